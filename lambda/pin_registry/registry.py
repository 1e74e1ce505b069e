"""What the registry does with a pin report, and the daily sweep of ended leases.

Holders live in DynamoDB (``store_api``), where their number has no limit; the
build and its AMIs carry one marker tag while the build has a live holder
(``marker``). Reports arrive at least once and may race (EventBridge invokes
the function asynchronously, and retries), so every step is idempotent and
ordered to fail safe:

* acquire records the holder, then marks the build. If marking fails, the
  holder is taken back out (when this report added it) and the marker comes off
  again unless another holder keeps it: a failed protect leaves nothing behind.
* release forgets the holder, and unmarks the build only when no live holder is
  left; it then counts again and marks it afresh if a holder arrived meanwhile.
  A race can so leave a marker nobody holds (the sweep does not see it, but the
  next release of that build does), never a held build without one.
* a holder's lease ends unless renewed (the stack's daily renewal); the sweep
  forgets ended holders, so a stack whose account is closed stops holding the
  build within a lease.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from image_lookup.errors import ImageLookupError
from image_lookup.models import arn_account
from image_lookup.pins import ACQUIRE, RELEASE, Pin, PinReport
from image_lookup.protection import legacy_tag_key
from pin_registry.marker import BuildMarker, legacy_holders
from pin_registry.store_api import PinStore

#: A holder's lease without renewal: three daily renewals may fail before it ends.
DEFAULT_LEASE_SECONDS = 3 * 24 * 3600


class Registry:
    """One account's registry: its table and the marker on the builds it owns."""

    def __init__(
        self,
        store: PinStore,
        marker: BuildMarker,
        *,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._marker = marker
        self._lease_seconds = lease_seconds
        self._clock = clock

    @property
    def calls(self) -> int:
        """Calls sent so far to DynamoDB, Image Builder and EC2."""
        return self._store.calls + self._marker.calls

    def handle(self, report: PinReport) -> dict[str, Any]:
        """Apply one report; returns what each pin came to. Raises ImageLookupError when a
        pin could not be marked (EventBridge retries the report, and the stack's renewal
        reports it again)."""
        outcomes: dict[str, str] = {}
        failure: ImageLookupError | None = None
        for pin in report.pins:
            key = f"{pin.holder.logical_id} {pin.build_arn}"
            if arn_account(pin.build_arn) != self._marker.account:
                outcomes[key] = "not this registry's build"
                continue
            try:
                if report.action == RELEASE:
                    outcomes[key] = self.release(pin)
                else:  # ACQUIRE, and RENEW (an acquire that extends the lease)
                    outcomes[key] = self.acquire(pin)
            except ImageLookupError as error:
                outcomes[key] = f"failed: {error.reason}"
                failure = failure or error
        if failure is not None:
            raise failure
        return outcomes

    def acquire(self, pin: Pin) -> str:
        """Record the holder (or extend its lease) and mark the build."""
        now = self._clock()
        added = self._store.put(pin, expires_at=int(now) + self._lease_seconds, now=_timestamp(now))
        try:
            build = self._marker.build(pin.build_arn)
            if build is None:
                raise ImageLookupError(
                    f"cannot protect build {pin.build_arn}: Image Builder no longer has it"
                )
            # the lookup's 0.3.0 tag, if any, is now this record
            self._marker.mark(build, drop_keys=(legacy_tag_key(pin.holder),))
        except ImageLookupError:
            if added:
                self._store.delete(pin.build_arn, pin.holder.key)
            self._unmark_unless_held(pin.build_arn)
            raise
        return "acquired" if added else "renewed"

    def release(self, pin: Pin) -> str:
        """Forget the holder; unmark the build if nobody else holds it."""
        self._store.delete(pin.build_arn, pin.holder.key)
        return self._unmark_unless_held(pin.build_arn, drop_keys=(legacy_tag_key(pin.holder),))

    def sweep(self) -> dict[str, Any]:
        """Forget every holder whose lease ended; unmark the builds nobody holds any more."""
        now = int(self._clock())
        ended = [
            (build, holder)
            for build, holder in self._store.expired(now)
            if self._store.delete_if_expired(build, holder, now)
        ]
        builds = sorted({build for build, _ in ended})
        outcomes = {build: self._unmark_unless_held(build) for build in builds}
        return {"expired_holders": len(ended), "builds": outcomes}

    def _unmark_unless_held(self, build_arn: str, drop_keys: tuple[str, ...] = ()) -> str:
        """Take the marker off ``build_arn`` unless a live holder (or a 0.3.0 tag) keeps it."""
        if self._store.live_holders(build_arn, int(self._clock())):
            if drop_keys:
                build = self._marker.build(build_arn)
                if build is not None and set(drop_keys) & {key for key, _ in build.tags}:
                    self._marker.mark(build, drop_keys=drop_keys)
            return "kept: held"
        build = self._marker.build(build_arn)
        if build is None:
            gone = self._marker.unmark_orphans(build_arn, drop_keys=drop_keys)
            return f"build gone; unmarked AMIs {gone}" if gone else "build gone"
        others = [key for key in legacy_holders(build) if key not in drop_keys]
        if others:
            if drop_keys:
                self._marker.mark(build, drop_keys=drop_keys)
            return f"kept: {len(others)} 0.3.0 holders"
        self._marker.unmark(build, drop_keys=drop_keys)
        if self._store.live_holders(build_arn, int(self._clock())):
            # a holder arrived while the marker came off: put it back
            self._marker.mark(build)
            return "kept: held (marker restored)"
        return "unmarked"


def _timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


__all__ = ["ACQUIRE", "DEFAULT_LEASE_SECONDS", "RELEASE", "Registry"]
