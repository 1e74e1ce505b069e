"""Every call this package makes to EC2 Image Builder, with retries and paging.

The SDK's own retries are switched off (one attempt per call) because neither of
its modes fits a custom resource with a deadline:

* ``standard`` (the default of current botocore) makes 3 attempts, backs off up to
  20 s whatever time the function has left, and does not retry Image Builder's
  ``CallRateLimitExceededException``: it is not in its throttling codes and 429 is
  not among its transient statuses.
* ``legacy`` (the default of botocore 1.34, bundled by older Lambda runtimes) makes
  5 attempts with no regard for the remaining time either.

Here each call is retried on throttling, 5xx and dropped connections with
full-jitter backoff for as long as the deadline allows, then fails with a
one-line reason.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    HTTPClientError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from image_lookup.deadline import Deadline
from image_lookup.errors import (
    AccessDeniedError,
    DeadlineExceededError,
    ServiceError,
    one_line,
)
from image_lookup.models import (
    AmiOutput,
    ContainerOutput,
    ImageBuild,
    ImageVersionRef,
    LookupRequest,
)
from image_lookup.selector import parse_build_version, parse_version

if TYPE_CHECKING:
    from mypy_boto3_imagebuilder import ImagebuilderClient

#: Largest page the service serves; fewer pages means fewer calls.
MAX_PAGE_SIZE = 100
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 5.0
#: Connection failures (DNS, refused) rarely heal; give up on them quickly.
MAX_CONNECTION_RETRIES = 2
#: A listing may be restarted once when the service rejects its own page token.
MAX_LISTING_RESTARTS = 1

_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "CallRateLimitExceededException",
        "RequestLimitExceeded",
        "ServiceException",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "ForbiddenException",
        "UnauthorizedOperation",
    }
)
NOT_FOUND_CODE = "ResourceNotFoundException"
INVALID_TOKEN_CODE = "InvalidPaginationTokenException"


class ImageBuilderGateway:
    """Reads images from EC2 Image Builder; counts the calls and retries it makes."""

    def __init__(
        self,
        client: ImagebuilderClient,
        deadline: Deadline,
        *,
        attempt_seconds: float = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._deadline = deadline
        self._attempt_seconds = attempt_seconds
        self._sleep = sleep
        self._jitter = jitter
        self.region: str = client.meta.region_name
        self.calls = 0
        self.retries = 0

    @classmethod
    def for_region(cls, region: str | None, deadline: Deadline) -> ImageBuilderGateway:
        """Build a gateway with its own client: one SDK attempt per call, bounded timeouts."""
        config = Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        try:
            client = _session().client("imagebuilder", region_name=region, config=config)
        except BotoCoreError as error:
            raise ServiceError(f"cannot create an Image Builder client: {error}") from error
        return cls(client, deadline, attempt_seconds=CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS)

    def image_versions(self, request: LookupRequest) -> Iterator[ImageVersionRef]:
        """Yield every version ListImages reports for the request's name, owner and filters.

        Entries that lack an ARN, a name or a parsable version are skipped; the
        name is not checked here (the caller matches it exactly).
        """
        filters: list[dict[str, Any]] = [{"name": "name", "values": [request.image_name]}]
        for filter_name, value in (
            ("platform", request.platform),
            ("osVersion", request.os_version),
            ("type", request.image_type.value if request.image_type else None),
        ):
            if value:
                filters.append({"name": filter_name, "values": [value]})
        params: dict[str, Any] = {"owner": request.owner.value, "filters": filters}
        if request.include_deprecated:
            params["includeDeprecated"] = True
        for item in self._paginate("list_images", "imageVersionList", params):
            ref = _version_ref(item)
            if ref is not None:
                yield ref

    def latest_available_build(self, version_arn: str) -> ImageBuild | None:
        """GetImage on a version ARN: the service's newest AVAILABLE build, or None."""
        try:
            answer = self._call(
                "get_image", {"imageBuildVersionArn": version_arn}, (NOT_FOUND_CODE,)
            )
        except ClientError:
            return None
        image = answer.get("image")
        return _image_build(image) if isinstance(image, Mapping) else None

    def builds(self, version_arn: str) -> Iterator[ImageBuild]:
        """ListImageBuildVersions: every build of a version (only the image's owner sees them)."""
        params = {"imageVersionArn": version_arn}
        for item in self._paginate("list_image_build_versions", "imageSummaryList", params):
            build = _image_build(item)
            if build is not None:
                yield build

    def _paginate(
        self, method: str, result_key: str, params: dict[str, Any]
    ) -> Iterator[Mapping[str, Any]]:
        """Follow nextToken to the end; guard against tokens that repeat.

        After a restart (an expired token) items may be yielded twice; callers
        deduplicate.
        """
        page_size = self._page_size(method)
        restarts = 0
        token: str | None = None
        seen_tokens: set[str] = set()
        pages = 0
        while True:
            page_params = dict(params, maxResults=page_size)
            if token:
                page_params["nextToken"] = token
            try:
                page = self._call(method, page_params, (INVALID_TOKEN_CODE,))
            except ClientError as error:
                if restarts >= MAX_LISTING_RESTARTS or token is None:
                    after_restart = " and a restart of the listing" if restarts else ""
                    raise ServiceError(
                        f"{_operation(method)} rejected its own page token "
                        f"({_error_code(error)}) after {pages} pages{after_restart}"
                    ) from error
                # The service lets page tokens expire mid-listing: start over once.
                restarts += 1
                token = None
                seen_tokens.clear()
                continue
            pages += 1
            items = page.get(result_key)
            if isinstance(items, list):
                yield from (item for item in items if isinstance(item, Mapping))
            token = page.get("nextToken") or None
            if token is None:
                return
            if token in seen_tokens:
                raise ServiceError(
                    f"{_operation(method)} returned a page token it had already returned "
                    f"(after {pages} pages); stopped to avoid an endless listing"
                )
            seen_tokens.add(token)

    def _page_size(self, method: str) -> int:
        """The largest maxResults the SDK's service model allows, up to MAX_PAGE_SIZE.

        Older SDK models (boto3 1.34, bundled by some Lambda runtimes) cap it at 25
        where newer ones allow 100; a request outside the model is never sent.
        """
        model = self._client.meta.service_model.operation_model(_operation(method))
        member = model.input_shape.members.get("maxResults") if model.input_shape else None
        limit = member.metadata.get("max", MAX_PAGE_SIZE) if member is not None else MAX_PAGE_SIZE
        return min(MAX_PAGE_SIZE, int(limit))

    def _call(
        self, method: str, params: dict[str, Any], passthrough_codes: tuple[str, ...] = ()
    ) -> Mapping[str, Any]:
        """One API call, retried on throttling, 5xx and dropped connections until the deadline."""
        operation = _operation(method)
        attempts = 0
        connection_failures = 0
        last_failure = "none"
        delay = 0.0
        while True:
            if self._deadline.seconds_left() - delay < self._attempt_seconds:
                raise DeadlineExceededError(
                    f"gave up on {operation} in region {self.region} after {attempts} attempts "
                    f"to leave time before the function's timeout; last failure: {last_failure}"
                )
            if attempts:
                self.retries += 1
                self._sleep(delay)
            attempts += 1
            self.calls += 1
            try:
                response: Mapping[str, Any] = getattr(self._client, method)(**params)
                return response
            except ClientError as error:
                code = _error_code(error)
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in passthrough_codes:
                    raise
                if code in _ACCESS_DENIED_CODES:
                    raise AccessDeniedError(
                        f"access denied to imagebuilder:{operation} in region {self.region} "
                        f"({code}): grant imagebuilder:{operation} to the lookup function's role"
                    ) from error
                if code not in _RETRYABLE_CODES and status not in _RETRYABLE_STATUS:
                    message = error.response.get("Error", {}).get("Message", "")
                    raise ServiceError(f"{operation} failed: {code}: {message}") from error
                last_failure = f"{code} (HTTP {status})"
            except EndpointConnectionError as error:
                connection_failures += 1
                last_failure = one_line(str(error), 200)
                if connection_failures > MAX_CONNECTION_RETRIES:
                    raise ServiceError(
                        f"cannot reach EC2 Image Builder in region {self.region} "
                        f"({last_failure}); check that the service is offered in that region"
                    ) from error
            except (BotoConnectionError, HTTPClientError) as error:
                last_failure = f"{type(error).__name__}: {one_line(str(error), 200)}"
            # full jitter: a random wait up to an exponentially growing, capped ceiling
            delay = self._jitter() * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempts)


@functools.lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    """One SDK session per process: loading it costs ~80 ms, so warm invocations reuse it."""
    return boto3.session.Session()


def _operation(method: str) -> str:
    """``list_images`` -> ``ListImages`` (the IAM action and API operation name)."""
    return "".join(part.capitalize() for part in method.split("_"))


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _version_ref(item: Mapping[str, Any]) -> ImageVersionRef | None:
    """Map a ListImages entry to ImageVersionRef, or None when it is unusable."""
    arn, name = _text(item.get("arn")), _text(item.get("name"))
    version = parse_version(item.get("version"))
    if not arn or not name or version is None:
        return None
    return ImageVersionRef(
        arn=arn,
        name=name,
        version=version,
        image_type=_text(item.get("type")),
        platform=_text(item.get("platform")),
        os_version=_text(item.get("osVersion")),
    )


def _image_build(item: Mapping[str, Any]) -> ImageBuild | None:
    """Map a GetImage image or ListImageBuildVersions summary to ImageBuild, or None."""
    arn, name = _text(item.get("arn")), _text(item.get("name"))
    parsed = parse_build_version(item.get("version"))
    if not arn or not name or parsed is None:
        return None
    state = item.get("state")
    status = _text(state.get("status")) if isinstance(state, Mapping) else ""
    outputs = item.get("outputResources")
    outputs = outputs if isinstance(outputs, Mapping) else {}
    return ImageBuild(
        arn=arn,
        name=name,
        version=parsed[0],
        build_number=parsed[1],
        state=status,
        image_type=_text(item.get("type")),
        platform=_text(item.get("platform")),
        os_version=_text(item.get("osVersion")),
        date_created=_text(item.get("dateCreated")),
        amis=tuple(
            AmiOutput(
                region=_text(ami.get("region")),
                image_id=_text(ami.get("image")),
                account_id=_text(ami.get("accountId")),
            )
            for ami in _mappings(outputs.get("amis"))
        ),
        containers=tuple(
            ContainerOutput(
                region=_text(container.get("region")),
                image_uris=tuple(_strings(container.get("imageUris"))),
            )
            for container in _mappings(outputs.get("containers"))
        ),
    )


def _mappings(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, str) and item)
