"""How much time the lookup may still spend before it must give up."""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds kept back so the function fails with a reason before Lambda kills it.
DEFAULT_RESERVE_SECONDS = 10.0


class Deadline:
    """Time left for work: the function's remaining time less a reserve.

    ``remaining_ms`` is Lambda's ``context.get_remaining_time_in_millis``; with
    none (the CLI), a fixed budget counted from construction is used instead.
    """

    def __init__(
        self,
        remaining_ms: Callable[[], int] | None = None,
        *,
        reserve_seconds: float = DEFAULT_RESERVE_SECONDS,
        budget_seconds: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._remaining_ms = remaining_ms
        self._reserve_seconds = reserve_seconds
        self._clock = clock
        self._ends_at = clock() + budget_seconds

    def seconds_left(self) -> float:
        """Seconds that work may still take before the reserve is reached (may be negative)."""
        if self._remaining_ms is not None:
            return self._remaining_ms() / 1000.0 - self._reserve_seconds
        return self._ends_at - self._clock()

    def within(self, seconds: float) -> Deadline:
        """This deadline, or ``seconds`` from now if that comes sooner."""
        ends_at = self._clock() + seconds
        return Deadline(
            lambda: int(min(self.seconds_left(), ends_at - self._clock()) * 1000),
            reserve_seconds=0.0,
            clock=self._clock,
        )

    def sooner_by(self, seconds: float) -> Deadline:
        """This deadline, ending ``seconds`` sooner."""
        return Deadline(
            lambda: int((self.seconds_left() - seconds) * 1000),
            reserve_seconds=0.0,
            clock=self._clock,
        )
