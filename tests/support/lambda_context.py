"""A stand-in for the Lambda context object, for tests that call the handler in-process."""

from __future__ import annotations

import time

from image_lookup.contract import HANDLER_TIMEOUT_SECONDS
from local_endpoints.imagebuilder import ACCOUNT, REGION


class FakeLambdaContext:
    """The parts of Lambda's context object the handler reads.

    The end-to-end tests use awslambdaric's real ``LambdaContext`` instead.
    """

    def __init__(self, remaining_seconds: float = HANDLER_TIMEOUT_SECONDS) -> None:
        self._ends_at_ms = remaining_seconds * 1000
        self._started: float | None = None
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:lookup"
        self.aws_request_id = "c0ffee00-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        """Counts down from the first call, as Lambda's clock runs from the invocation."""
        if self._started is None:
            self._started = time.monotonic()
        return int(self._ends_at_ms - (time.monotonic() - self._started) * 1000)
