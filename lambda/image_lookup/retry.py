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
full-jitter backoff ("Exponential Backoff and Jitter", AWS Architecture Blog) for as
long as the deadline allows, then fails with a one-line reason. A throttle waits
longer than other failures, as in the SDK's standard mode (botocore
``retries/standard.py``, ``ExponentialBackoff``: a random part of 1 s, 2 s, 4 s ... up
to 20 s after a throttle). In a stack with many lookups
(``pacing``), the first call is spread and a throttle during the spread is retried
after it, when the stack's other lookups have made their first call.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from botocore.exceptions import ClientError, EndpointConnectionError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from image_lookup.deadline import Deadline
from image_lookup.errors import AccessDeniedError, DeadlineExceededError, ServiceError, one_line
from image_lookup.pacing import lookups_in_stack, spread_seconds

#: How a reason says the deadline came: a lookup has about two minutes, a rollback the
#: function's whole timeout (``contract``); the CLI puts its ``--timeout`` in its place.
WITHIN_TIME = "within the time the request has"
#: After a throttle during the spread, the retry lands at random in this share of it,
#: right after it: the stack's retries then meet little else at the rate limit.
RETRY_WINDOW_SHARE = 0.25


class RetryPolicy(NamedTuple):
    """How calls are timed out and retried; tests pass a faster one."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    #: Connection failures (DNS, refused) rarely heal; give up on them quickly.
    max_connection_retries: int = 2
    #: After a throttle: the ceiling of the first wait, and the largest.
    throttle_base: float = 1.0
    throttle_cap: float = 20.0
    #: The first call waits a random part of this (``pacing.spread_seconds``); 0: none.
    spread_seconds: float = 0.0

    @property
    def attempt_seconds(self) -> float:
        """The longest one attempt can take."""
        return self.connect_timeout + self.read_timeout

    def backoff(self, attempts: int, jitter: float) -> float:
        """Full jitter: a random wait up to an exponentially growing, capped ceiling."""
        return jitter * min(self.backoff_cap, self.backoff_base * 2.0**attempts)

    def throttle_backoff(self, attempts: int, jitter: float, elapsed: float) -> float:
        """The wait after a throttle, ``elapsed`` seconds after the lookup began.

        Full jitter over 1 s, 2 s, 4 s ... up to ``throttle_cap``; with a spread, over at
        least ``RETRY_WINDOW_SHARE`` of it, and never before the spread ends.
        """
        window = min(self.throttle_cap, self.throttle_base * 2.0 ** (attempts - 1))
        if not self.spread_seconds:
            return jitter * window
        window = max(window, self.spread_seconds * RETRY_WINDOW_SHARE)
        return max(0.0, self.spread_seconds - elapsed) + jitter * window


DEFAULT_RETRY_POLICY = RetryPolicy()


def stack_retry_policy(environ: Mapping[str, str] = os.environ) -> RetryPolicy:
    """The handler's policy: the default, spread for the stack's number of lookups."""
    return DEFAULT_RETRY_POLICY._replace(spread_seconds=spread_seconds(lookups_in_stack(environ)))


THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "CallRateLimitExceededException",
        "RequestLimitExceeded",
        # DynamoDB (the pin registry), HTTP 400: botocore's _retry.json, "throughput_exceeded"
        "ProvisionedThroughputExceededException",
    }
)
RETRYABLE_CODES = THROTTLE_CODES | frozenset(
    {
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
    """Runs one lookup's calls with retries under one deadline; counts calls, retries, waits."""

    def __init__(
        self,
        deadline: Deadline,
        region: str,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        iam_prefix: str = "imagebuilder",
        service_title: str = "EC2 Image Builder",
    ) -> None:
        """``iam_prefix`` and ``service_title`` name the service in reasons."""
        self._deadline = deadline
        self._region = region
        self._iam_prefix = iam_prefix
        self._service_title = service_title
        self.policy = policy
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock
        self._started = clock()
        self.calls = 0
        self.retries = 0
        #: Seconds spent waiting before calls (spread and backoff).
        self.waited = 0.0

    def call(
        self,
        operation: str,
        send: Callable[[], Mapping[str, Any]],
        passthrough_codes: tuple[str, ...] = (),
        answer_failure: Callable[[Mapping[str, Any]], str | None] | None = None,
    ) -> Mapping[str, Any]:
        """``send()`` until it answers, a failure is final, or the deadline is near.

        A ClientError whose code is in ``passthrough_codes`` is re-raised untouched
        for the caller to interpret (e.g. not-found). ``answer_failure`` names the
        retryable error code a successful answer carries inside (an entry of a batch
        call), or None: such an answer is retried like that error. A wait that would
        not leave time for one more attempt is cut short to leave just that.
        """
        attempts = 0
        connection_failures = 0
        last_failure = "none"
        spread = self.policy.spread_seconds
        delay = self._jitter() * spread if spread and not self.calls else 0.0
        while True:
            room = self._deadline.seconds_left() - self.policy.attempt_seconds
            # a retry needs some time to wait, however short, then a whole attempt
            if room < 0 or (attempts and room <= 0):
                raise DeadlineExceededError(
                    f"gave up on {operation} in region {self._region} after {attempts} attempts "
                    f"{WITHIN_TIME}; last failure: {last_failure}"
                )
            if delay > 0:
                self._sleep(min(delay, room))
                self.waited += min(delay, room)
            if attempts:
                self.retries += 1
            attempts += 1
            self.calls += 1
            try:
                answer = send()
                code = answer_failure(answer) if answer_failure else None
                if code is None:
                    return answer
                last_failure = f"{code} (in the answer)"
                if code in THROTTLE_CODES:
                    elapsed = self._clock() - self._started
                    delay = self.policy.throttle_backoff(attempts, self._jitter(), elapsed)
                    continue
            except ClientError as error:
                code = error_code(error)
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in passthrough_codes:
                    raise
                if code in ACCESS_DENIED_CODES:
                    raise AccessDeniedError(
                        f"access denied to {self._iam_prefix}:{operation} in region {self._region} "
                        f"({code}): grant {self._iam_prefix}:{operation} to the lookup function's "
                        "role"
                    ) from error
                if code not in RETRYABLE_CODES and status not in RETRYABLE_STATUS:
                    message = error.response.get("Error", {}).get("Message", "")
                    raise ServiceError(f"{operation} failed: {code}: {message}") from error
                last_failure = f"{code} (HTTP {status})"
                if code in THROTTLE_CODES or status == 429:
                    elapsed = self._clock() - self._started
                    delay = self.policy.throttle_backoff(attempts, self._jitter(), elapsed)
                    continue
            except EndpointConnectionError as error:
                connection_failures += 1
                last_failure = one_line(str(error), 200)
                if connection_failures > self.policy.max_connection_retries:
                    raise ServiceError(
                        f"cannot reach {self._service_title} in region {self._region} "
                        f"({last_failure}); check that the service is offered in that region"
                    ) from error
            except (BotoConnectionError, HTTPClientError) as error:
                last_failure = f"{type(error).__name__}: {one_line(str(error), 200)}"
            delay = self.policy.backoff(attempts, self._jitter())
