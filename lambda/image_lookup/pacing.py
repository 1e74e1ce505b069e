"""How long a lookup spreads its first call when its stack has many lookups.

CloudFormation sends every lookup of a stack at once (on create, and on each deploy
while they refresh on every deploy): one handler invocation each, sharing nothing but
the account's Image Builder rate limit. The construct sets LOOKUPS_ENV on the handler
to the stack's number of lookups when there are more than SPREAD_MIN_LOOKUPS, and each
lookup waits a random part of ``spread_seconds`` before its first call, so the stack's
calls arrive at about ASSUMED_CALLS_PER_SECOND instead of all in the first second.
No module here imports the SDK: the construct reads these at synth.
"""

from __future__ import annotations

from collections.abc import Mapping

LOOKUPS_ENV = "LATEST_IMAGE_BUILD_LOOKUPS"
#: Up to this many lookups call at once; the throttle backoff absorbs what the rate refuses.
SPREAD_MIN_LOOKUPS = 10
#: Image Builder publishes no rate for its read calls; the spread is sized for this one.
ASSUMED_CALLS_PER_SECOND = 5.0
#: Aim at 5/6 of that rate: calls at random moments collide too often at the full rate.
HEADROOM = 1.2
#: Leaves two throttle retries room within a lookup's time (``contract.ORDINARY_WORK_SECONDS``).
MAX_SPREAD_SECONDS = 60.0


def spread_seconds(lookups: int) -> float:
    """The window a lookup's first call is spread over, for a stack of ``lookups``."""
    if lookups <= SPREAD_MIN_LOOKUPS:
        return 0.0
    return min(MAX_SPREAD_SECONDS, lookups * HEADROOM / ASSUMED_CALLS_PER_SECOND)


def lookups_in_stack(environ: Mapping[str, str]) -> int:
    """The stack's number of lookups as the construct set it; 0 when unset or not a number."""
    try:
        return max(0, int(environ.get(LOOKUPS_ENV, "0")))
    except ValueError:
        return 0
