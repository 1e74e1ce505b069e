"""Protect a pinned build (Create/Update) and release it (Delete); one log line each.

The tags and the rules for removing them are in ``protection``. Order matters
where stacks act at the same time:

* ``protect`` tags the build before its AMIs;
* ``release`` removes its own pinned-by tag, reads the build's tags afresh, and
  removes the marker (build, then AMIs) only when no pinned-by tag is left; it then
  reads the tags once more and puts the marker back if a stack pinned the build in
  between. A race can so leave a marker nobody claims (the build stays protected),
  never a pinned build without one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from image_lookup.deadline import Deadline
from image_lookup.ec2_api import Ec2Gateway
from image_lookup.errors import ImageLookupError, ServiceError, one_line
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.models import arn_account
from image_lookup.protection import (
    PROTECTED_TAG_KEY,
    PROTECTED_TAG_VALUE,
    Pinner,
    amis_by_region,
    check_owned,
    marker_may_go,
    pinned_by,
)
from image_lookup.retry import DEFAULT_RETRY_POLICY, RetryPolicy

LOGGER = logging.getLogger("image_lookup")
LOGGER.setLevel(logging.INFO)


def protect(
    build_arn: str,
    pinner: Pinner,
    deadline: Deadline,
    *,
    best_effort: bool = False,
    retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> dict[str, Any]:
    """Tag the build and its AMIs (this account's, in every region) for ``pinner``.

    Raises an ImageLookupError with a one-line reason on any failure (the deploy
    fails); with ``best_effort`` (a rollback, which never fails) it only logs it.
    Returns what was done, as logged.
    """
    run = _Run("protect", build_arn, pinner, deadline, retry_policy)
    try:
        check_owned(build_arn, pinner.account)
        build = run.image_builder.get_image(build_arn)
        if build is None or build.arn != build_arn:
            raise ServiceError(f"cannot protect build {build_arn}: Image Builder no longer has it")
        if not run.image_builder.tag_resource(build_arn, pinner.tags()):
            raise ServiceError(f"cannot protect build {build_arn}: Image Builder no longer has it")
        for region, image_ids in amis_by_region(build, pinner.account).items():
            missing = run.ec2(region).tag_images(image_ids, pinner.tags())
            run.record["amis"][region] = [i for i in image_ids if i not in missing]
            if missing:
                run.record.setdefault("amis_gone", {})[region] = list(missing)
    except ImageLookupError as error:
        logged = run.log(outcome="failed", reason=error.reason)
        if best_effort:
            return logged
        raise
    except Exception as error:
        LOGGER.exception("unexpected failure")
        failure = ServiceError(f"unexpected {type(error).__name__} protecting {build_arn}: {error}")
        logged = run.log(outcome="failed", reason=failure.reason)
        if best_effort:
            return logged
        raise failure from error
    return run.log(outcome="protected")


def release(
    build_arn: str,
    pinner: Pinner,
    deadline: Deadline,
    *,
    retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> dict[str, Any]:
    """Remove ``pinner``'s tag from the build and its AMIs, and the marker if nobody else pins it.

    Never raises: a build or tag already gone is what a release wants, and any
    other failure is logged (Delete must succeed). Returns what was done, as logged.
    """
    run = _Run("release", build_arn, pinner, deadline, retry_policy)
    try:
        if pinner.account != arn_account(build_arn):
            return run.log(outcome="not ours")  # never tagged: protect refuses other accounts
        build = run.image_builder.get_image(build_arn)
        if build is None or build.arn != build_arn:
            return run.log(outcome="build gone", **_release_orphans(run, build_arn, pinner))
        amis = amis_by_region(build, pinner.account)
        run.image_builder.untag_resource(build_arn, (pinner.tag_key,))
        for region, image_ids in amis.items():
            run.ec2(region).untag_images(image_ids, (pinner.tag_key,))
            run.record["amis"][region] = list(image_ids)
        after = run.image_builder.get_image(build_arn)
        if after is None:
            return run.log(outcome="released", marker="build gone")
        if not marker_may_go(after.tags, pinner.tag_key):
            return run.log(
                outcome="released", marker="kept", still_pinned_by=sorted(pinned_by(after.tags))
            )
        _set_marker(run, build_arn, amis, present=False)
        again = run.image_builder.get_image(build_arn)
        if again is not None and pinned_by(again.tags):
            # a stack pinned it while the marker went: put it back
            _set_marker(run, build_arn, amis, present=True)
            return run.log(outcome="released", marker="restored")
        return run.log(outcome="released", marker="removed")
    except Exception as error:
        if not isinstance(error, ImageLookupError):
            LOGGER.exception("unexpected failure")
        reason = error.reason if isinstance(error, ImageLookupError) else one_line(repr(error))
        return run.log(outcome="release failed", reason=reason)


def protect_for_event(
    event: Mapping[str, Any], build_arn: str, deadline: Deadline, *, best_effort: bool = False
) -> dict[str, Any] | None:
    """``protect`` for the lookup an event names (its ``StackId`` and ``LogicalResourceId``)."""
    try:
        pinner = Pinner.from_event(event)
    except ImageLookupError as error:
        if best_effort:
            LOGGER.info(json.dumps({"message": "pin protection", "outcome": error.reason}))
            return None
        raise
    return protect(build_arn, pinner, deadline, best_effort=best_effort)


def release_for_event(
    event: Mapping[str, Any], build_arn: str, deadline: Deadline
) -> dict[str, Any] | None:
    """``release`` for the lookup an event names; never raises, whatever the event holds."""
    try:
        pinner = Pinner.from_event(event)
    except ImageLookupError as error:
        LOGGER.info(json.dumps({"message": "pin protection", "outcome": error.reason}))
        return None
    return release(build_arn, pinner, deadline)


def _set_marker(
    run: _Run, build_arn: str, amis: dict[str, tuple[str, ...]], *, present: bool
) -> None:
    """Put the marker on (or take it off) the build, then its AMIs."""
    marker = {PROTECTED_TAG_KEY: PROTECTED_TAG_VALUE}
    if present:
        run.image_builder.tag_resource(build_arn, marker)
    else:
        run.image_builder.untag_resource(build_arn, (PROTECTED_TAG_KEY,))
    for region, image_ids in amis.items():
        if present:
            run.ec2(region).tag_images(image_ids, marker)
        else:
            run.ec2(region).untag_images(image_ids, (PROTECTED_TAG_KEY,))


def _release_orphans(run: _Run, build_arn: str, pinner: Pinner) -> dict[str, Any]:
    """The build is gone; its AMIs may not be: untag those in the build's region.

    Only the build's region is searched: the other regions it distributed to are
    known only from the build itself.
    """
    region = build_arn.split(":")[3]
    ec2 = run.ec2(region)
    found = ec2.images_of_build(build_arn, pinner.tag_key)
    for image_id, tags in found.items():
        keys: tuple[str, ...] = (pinner.tag_key,)
        if marker_may_go(tags, pinner.tag_key):
            keys += (PROTECTED_TAG_KEY,)
        ec2.untag_images((image_id,), keys)
    return {"amis": {region: sorted(found)}} if found else {}


class _Run:
    """One protect or release: its gateways (created on first use) and its log record."""

    def __init__(
        self,
        action: str,
        build_arn: str,
        pinner: Pinner,
        deadline: Deadline,
        retry_policy: RetryPolicy,
    ) -> None:
        self._deadline = deadline
        self._policy = retry_policy
        self._started = time.monotonic()
        self._image_builder: ImageBuilderGateway | None = None
        self._ec2: dict[str, Ec2Gateway] = {}
        self.record: dict[str, Any] = {
            "message": "pin protection",
            "action": action,
            "build": build_arn,
            "tag": pinner.tag_key,
            "pinned_by": pinner.tag_value,
            "amis": {},
        }

    @property
    def image_builder(self) -> ImageBuilderGateway:
        if self._image_builder is None:
            region = self.record["build"].split(":")[3] or None
            self._image_builder = ImageBuilderGateway.for_region(
                region, self._deadline, self._policy
            )
        return self._image_builder

    def ec2(self, region: str) -> Ec2Gateway:
        if region not in self._ec2:
            self._ec2[region] = Ec2Gateway.for_region(region, self._deadline, self._policy)
        return self._ec2[region]

    def log(self, **outcome: Any) -> dict[str, Any]:
        """Emit the run's single structured log line; return it."""
        calls = sum(gateway.calls for gateway in self._ec2.values())
        if self._image_builder is not None:
            calls += self._image_builder.calls
        line = {
            **self.record,
            **outcome,
            "calls": calls,
            "milliseconds": round((time.monotonic() - self._started) * 1000),
        }
        LOGGER.info(json.dumps(line, default=str))
        return line
