"""The AWS side of the command line: which region, which SDK session, and one-line messages
for the SDK's failures (no credentials, no region, no network) and the lookup's."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)

from image_lookup import sdk
from image_lookup.deadline import Deadline
from image_lookup.errors import (
    DeadlineExceededError,
    ImageLookupError,
    InvalidInputError,
    one_line,
)
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.properties import validate_region
from image_lookup.retry import DEFAULT_RETRY_POLICY, WITHIN_TIME, Retrier, RetryPolicy
from latest_image_build_cli.cli_errors import CommandError

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or run 'aws configure' or 'aws sso login'"
)
NO_REGION = (
    "no region: pass --region, or set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your "
    "AWS profile)"
)
#: Error codes with which AWS rejects the credentials themselves (not a missing permission).
REJECTED_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "ForbiddenException"}
)


def sdk_session() -> boto3.session.Session:
    """The one SDK session of the process, shared with the lookups (credentials resolve once)."""
    return sdk.session()


#: CloudFormation and EC2 throttle with codes the SDK's standard mode retries.
READ_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
#: Image Builder: one attempt per call; the lookup's Retrier retries under its deadline.
IMAGEBUILDER_CONFIG = Config(
    connect_timeout=DEFAULT_RETRY_POLICY.connect_timeout,
    read_timeout=DEFAULT_RETRY_POLICY.read_timeout,
    retries={"total_max_attempts": 1, "mode": "standard"},
)
#: A session is not safe to share between threads, the clients it makes are; one session
#: serves every account (one copy of the service models), making clients one at a time.
_CLIENT_LOCK = threading.Lock()


class Pace:
    """A token bucket: at most ``rate`` calls a second after a ``burst``; safe across threads."""

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until a call may go."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            self._tokens -= 1.0
            delay = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if delay:
            time.sleep(delay)


class AccountClients:
    """The clients of one account (the caller's own, or a role assumed there).

    One client per service and region, made on first use; every HTTP request (retries
    included) is counted and, with a ``pace``, waits its turn, so one account's calls stay
    under its rate limits whatever the other accounts do.
    """

    def __init__(
        self,
        session: boto3.session.Session,
        *,
        account: str = "",
        credentials: Mapping[str, str] | None = None,
        pace: Pace | None = None,
    ) -> None:
        self.account = account
        """The account id when known (a role assumed there); empty for the caller's own."""
        self.calls = 0
        """HTTP requests sent so far."""
        self._session = session
        self._credentials = dict(credentials or {})
        self._pace = pace
        self._clients: dict[tuple[str, str, float, float], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str, policy: RetryPolicy = DEFAULT_RETRY_POLICY) -> Any:
        """The account's client of ``service`` in ``region``."""
        key = (service, region, policy.connect_timeout, policy.read_timeout)
        if key not in self._clients:
            config = READ_CONFIG
            if service == "imagebuilder":
                config = IMAGEBUILDER_CONFIG.merge(
                    Config(connect_timeout=policy.connect_timeout, read_timeout=policy.read_timeout)
                )
            with _CLIENT_LOCK:
                made: Any = self._session.client(  # type: ignore[call-overload]
                    service, region_name=region, config=config, **self._credentials
                )
            made.meta.events.register("before-send", self._before_send)
            self._clients[key] = made
        return self._clients[key]

    def image_builder(self, region: str, deadline: Deadline) -> ImageBuilderGateway:
        """A gateway to Image Builder in ``region`` retrying under ``deadline``."""
        # a short --timeout shrinks each attempt to fit, as for resolve
        policy = sdk.fitted_policy(DEFAULT_RETRY_POLICY, deadline.seconds_left())
        client = self.client("imagebuilder", region, policy)
        return ImageBuilderGateway(client, Retrier(deadline, region, policy))

    def _before_send(self, **_kwargs: Any) -> None:
        with self._lock:
            self.calls += 1
        if self._pace is not None:
            self._pace.wait()


def resolve_region(explicit: str | None) -> str:
    """``--region``, else ``AWS_REGION`` (as Lambda and the CDK CLI read it), else the SDK's
    own (``AWS_DEFAULT_REGION`` or the profile's); fail in one line when there is none."""
    sources = (
        ("--region", explicit),
        ("AWS_REGION", os.environ.get("AWS_REGION")),
        ("AWS_DEFAULT_REGION or the AWS profile", sdk_session().region_name),
    )
    for source, value in sources:
        if value:
            try:
                return validate_region(value)
            except InvalidInputError as error:
                raise CommandError(f"{error.reason} (from {source})") from None
    raise CommandError(NO_REGION)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def sdk_failure(error: BaseException) -> str | None:
    """A one-line message for an SDK-side failure in ``error``'s chain, or None.

    A connection failure is reported as what it is, with no guess about the service.
    """
    for item in _chain(error):
        if isinstance(item, NoCredentialsError):
            return NO_CREDENTIALS
        if isinstance(item, NoRegionError):
            return NO_REGION
        if isinstance(item, EndpointConnectionError):
            cause = one_line(str(item.kwargs.get("error") or ""), 160)
            return (
                f"cannot reach {item.kwargs.get('endpoint_url')}: network error ({cause}); "
                "check the network, the proxy and any AWS_ENDPOINT_URL setting"
            )
        if isinstance(item, (ConnectTimeoutError, ReadTimeoutError)):
            return f"timed out talking to {item.kwargs.get('endpoint_url')}: {one_line(str(item))}"
        if isinstance(item, BotoCoreError):
            return f"AWS SDK: {one_line(str(item))}"
        if isinstance(item, ClientError):
            code = str(item.response.get("Error", {}).get("Code", ""))
            if code in REJECTED_CREDENTIAL_CODES:
                message = item.response.get("Error", {}).get("Message", "")
                return f"AWS rejected the credentials ({code}: {message})"
    return None


def client_failure(error: ClientError, action: str, target: str = "") -> str:
    """One line for a failed CloudFormation or EC2 call: ``action`` is ``service:Operation``."""
    rejected = sdk_failure(error)
    if rejected is not None:
        return rejected
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    where = f" on {target}" if target else ""
    if code in ACCESS_DENIED_CODES:
        return (
            f"access denied to {action}{where} ({code}): grant {action} to the identity running "
            "this command (README: IAM for a CI role)"
        )
    return f"{action}{where} failed: {code}: {details.get('Message', '')}"


def lookup_failure(error: ImageLookupError, timeout: float) -> str:
    """The lookup's one-line reason as a command line says it.

    The lookup's texts speak of a Lambda function (its timeout, its role); here there is
    none, so those words are replaced, and SDK failures get their own message.
    """
    sdk = sdk_failure(error)
    if sdk is not None:
        return sdk
    reason = error.reason
    if isinstance(error, DeadlineExceededError):
        reason = reason.replace(WITHIN_TIME, f"within --timeout {timeout:g} s")
    return reason.replace("the lookup function's role", "the identity running this command")
