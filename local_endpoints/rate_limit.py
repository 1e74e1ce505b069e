"""The account-wide rate limit the local endpoints throttle by: a token bucket."""

from __future__ import annotations

import time


class TokenBucket:
    """``tokens_per_second`` tokens a second, at most ``burst`` (default: one second's
    worth) saved up; None for no limit.

    A token bucket, as AWS documents its API throttling (EC2 Developer Guide, "Request
    throttling for the Amazon EC2 API"). A throttled call takes no token, so a client
    that retries sooner only adds calls. Not thread-safe: the caller holds its lock.
    """

    def __init__(self, tokens_per_second: float | None, burst: float | None = None) -> None:
        self.tokens_per_second = tokens_per_second
        self.burst = burst or tokens_per_second or 0.0
        self._tokens = self.burst
        self._tokens_at = time.monotonic()

    def admit(self) -> bool:
        """Take a token; False when the bucket is empty."""
        if self.tokens_per_second is None:
            return True
        now = time.monotonic()
        elapsed = now - self._tokens_at
        self._tokens = min(self.burst, self._tokens + elapsed * self.tokens_per_second)
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
