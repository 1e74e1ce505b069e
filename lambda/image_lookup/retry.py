"""Retrying one service call until the deadline: which failures retry, and how long to wait.

The SDK's own retries are switched off (one attempt per call) because neither of
its modes fits a custom resource with a deadline:

* ``standard`` (the default of current botocore) makes 3 attempts, backs off up to
  20 s whatever time the function has left, and does not retry Image Builder's
  ``CallRateLimitExceededException``: it is not in its throttling codes and 429 is
  not among its transient statuses.
* ``legacy`` (the default of botocore 1.34, bundled by older Lambda runtimes) makes
  5 attempts with no regard for the remaining time either.

Here a call is retried on throttling, 5xx and dropped connections with
full-jitter backoff for as long as the deadline allows, then fails with a
one-line reason.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from botocore.exceptions import ClientError, EndpointConnectionError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from image_lookup.deadline import Deadline
from image_lookup.errors import AccessDeniedError, DeadlineExceededError, ServiceError, one_line


class RetryPolicy(NamedTuple):
    """How calls are timed out and retried; tests pass a faster one."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    #: Connection failures (DNS, refused) rarely heal; give up on them quickly.
    max_connection_retries: int = 2

    @property
    def attempt_seconds(self) -> float:
        """The longest one attempt can take."""
        return self.connect_timeout + self.read_timeout

    def backoff(self, attempts: int, jitter: float) -> float:
        """Full jitter: a random wait up to an exponentially growing, capped ceiling."""
        return jitter * min(self.backoff_cap, self.backoff_base * 2.0**attempts)


DEFAULT_RETRY_POLICY = RetryPolicy()

RETRYABLE_CODES = frozenset(
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
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
ACCESS_DENIED_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "ForbiddenException", "UnauthorizedOperation"}
)


def error_code(error: ClientError) -> str:
    """The service's error code of a failed call."""
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


class Retrier:
    """Runs calls with retries under one deadline; counts calls and retries."""

    def __init__(
        self,
        deadline: Deadline,
        region: str,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._deadline = deadline
        self._region = region
        self.policy = policy
        self._sleep = sleep
        self._jitter = jitter
        self.calls = 0
        self.retries = 0

    def call(
        self,
        operation: str,
        send: Callable[[], Mapping[str, Any]],
        passthrough_codes: tuple[str, ...] = (),
    ) -> Mapping[str, Any]:
        """``send()`` until it answers, a failure is final, or the deadline is near.

        A ClientError whose code is in ``passthrough_codes`` is re-raised untouched
        for the caller to interpret (e.g. not-found).
        """
        attempts = 0
        connection_failures = 0
        last_failure = "none"
        delay = 0.0
        while True:
            if self._deadline.seconds_left() - delay < self.policy.attempt_seconds:
                raise DeadlineExceededError(
                    f"gave up on {operation} in region {self._region} after {attempts} attempts "
                    f"to leave time before the function's timeout; last failure: {last_failure}"
                )
            if attempts:
                self.retries += 1
                self._sleep(delay)
            attempts += 1
            self.calls += 1
            try:
                return send()
            except ClientError as error:
                code = error_code(error)
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in passthrough_codes:
                    raise
                if code in ACCESS_DENIED_CODES:
                    raise AccessDeniedError(
                        f"access denied to imagebuilder:{operation} in region {self._region} "
                        f"({code}): grant imagebuilder:{operation} to the lookup function's role"
                    ) from error
                if code not in RETRYABLE_CODES and status not in RETRYABLE_STATUS:
                    message = error.response.get("Error", {}).get("Message", "")
                    raise ServiceError(f"{operation} failed: {code}: {message}") from error
                last_failure = f"{code} (HTTP {status})"
            except EndpointConnectionError as error:
                connection_failures += 1
                last_failure = one_line(str(error), 200)
                if connection_failures > self.policy.max_connection_retries:
                    raise ServiceError(
                        f"cannot reach EC2 Image Builder in region {self._region} "
                        f"({last_failure}); check that the service is offered in that region"
                    ) from error
            except (BotoConnectionError, HTTPClientError) as error:
                last_failure = f"{type(error).__name__}: {one_line(str(error), 200)}"
            delay = self.policy.backoff(attempts, self._jitter())
