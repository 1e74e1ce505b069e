"""Rollbacks: answer with the build the stack had before the update that failed.

When a stack update fails, CloudFormation rolls every resource it updated back to the
last good template: a custom resource gets an Update whose ``ResourceProperties`` are
that template's and whose ``OldResourceProperties`` are the failed template's (the
properties "previously declared", CloudFormation User Guide, custom resource request
objects, ``OldResourceProperties``), with the ``PhysicalResourceId`` the failed update
gave it (the build that broke the deploy, B2). The request carries no rollback flag. A
fresh lookup would keep B2, or fail and leave the stack in UPDATE_ROLLBACK_FAILED.

Instead the handler reads what CloudFormation itself records: the stack's status tells
a rollback (DescribeStacks), and the stack's events (DescribeStackEvents, newest first,
100 a page) tell the physical id, the build ARN, that the resource had when the failed
update began (B1). Both reads retry throttling with backoff, the first call spread as a
large stack's lookups spread theirs (``pacing``), and the events are paged as far back
as the lookup's last completed change is. Nothing here ever raises: a rollback must not
fail because of the lookup.

A rollback has the function's whole timeout (``contract.HANDLER_TIMEOUT_SECONDS``), not
the two minutes of any other request: CloudFormation rolls a stack's lookups back at
once, and each pages the events under the account's CloudFormation rate limit, so a
stack's rollback costs about lookups x pages calls (quadratic in the stack's size).

The Update itself may say it is a rollback (``rollback_marks``):

* ``RefreshToken`` went back. The construct writes the synth time (``time.time_ns()``)
  by default, so an ordinary deploy always carries a larger token than the one it
  replaces, and only a rollback (or a deploy of an older cloud assembly) a smaller one.
* Its properties are ones today's code refuses. In a rollback they are the last good
  template's, which an older handler accepted; resolving would fail the rollback. (An
  ordinary Update with a bad property is then kept too while the events are unreadable;
  the next deploy reports the property. Failing a rollback costs a manual
  ContinueUpdateRollback; keeping a pin one deploy longer costs nothing.)

With a mark the status is not read: the events tell both whether a rollback runs (the
newest stack-level event) and B1; only an ordinary update they show is confirmed by the
status, in case a rollback's first event lags behind it. When the events cannot be read
in time, or they and the status disagree, the resource keeps the physical id it has; it
never resolves afresh. The physical id is no mark: it
is the build the previous request answered in both cases. With no mark the status
decides; when it cannot be read, the Update resolves as an ordinary one. When the
Update says it is ordinary (``RefreshToken`` grew), the status is only confirmed, with
a short budget, so that a large stack's ordinary deploy does not spend its time on
CloudFormation's rate limit.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from image_lookup.cloudformation_api import CloudFormationGateway, StackEvent
from image_lookup.contract import REFRESH_TOKEN, REGION, Attribute
from image_lookup.deadline import Deadline
from image_lookup.ec2_api import Ec2Gateway
from image_lookup.errors import InvalidInputError, one_line
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.outputs import attributes_from_arn, build_attributes
from image_lookup.properties import parse_properties, validate_region
from image_lookup.retry import RetryPolicy, stack_retry_policy

LOGGER = logging.getLogger("image_lookup")

#: The stack status while CloudFormation rolls a failed update back (also after
#: ContinueUpdateRollback).
ROLLBACK_STATUSES = frozenset({"UPDATE_ROLLBACK_IN_PROGRESS"})
_STACK_TYPE = "AWS::CloudFormation::Stack"
#: Resource statuses after which the resource held the physical id the event names.
_SETTLED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
#: The CloudFormation reads stop this long before the deadline: the answer's attributes
#: (GetImage, then the AMI by its tag) still need time, and a launch template rolled back
#: to an empty image id would fail the rollback.
ATTRIBUTES_SECONDS = 20.0
#: Of that, the AMI-by-tag fallback keeps this much after GetImage gives up.
AMI_FALLBACK_SECONDS = 8.0
#: When the Update says it is ordinary: retries of the status read stop this soon.
CONFIRM_SECONDS = 3.0
#: Shorter attempts than a lookup's (3 + 10 s): more of them fit before the deadline, and
#: these answers are small (a page of events is at most 1 MB).
REREAD_POLICY = RetryPolicy(connect_timeout=2.0, read_timeout=5.0)


class EventsReading(NamedTuple):
    """What the stack's events tell a rolled-back lookup."""

    #: The build the lookup had when the failed update began (B1), or None.
    previous: str | None
    #: The events show an ordinary update running, not a rollback (read only when asked).
    ordinary_update: bool = False


def read_events(
    events: Iterable[StackEvent],
    stack_id: str,
    logical_id: str,
    current: str = "",
    *,
    status_known: bool = True,
) -> EventsReading:
    """B1 from the stack's events (newest first); with ``status_known`` False, also
    whether the stack is rolling back at all.

    Stack-level events name the stack's own ARN as their physical id (a nested stack's
    resource events do not). The update that failed began at the newest stack-level
    UPDATE_IN_PROGRESS; its rollback, at the stack-level UPDATE_ROLLBACK_IN_PROGRESS
    events after it (one more for each ContinueUpdateRollback, after an
    UPDATE_ROLLBACK_FAILED). CloudFormation writes that event before it sends the
    rollback's Updates, so when the newest stack-level event is an UPDATE_IN_PROGRESS
    the stack runs an ordinary update; with ``status_known`` False reading stops there.

    The resource's UPDATE_IN_PROGRESS in the failed update can only name the physical id
    it had then, or none: CloudFormation writes it before it sends the Update, before the
    handler answers a new id (a replaced resource's events show the old id there too and
    the new one only from "Resource creation Initiated" on). The id moved once in that
    update, from B1 to ``current``; so, when the rollback was not retried, the first such
    event naming another id than ``current`` is B1, and reading stops there: a long
    history is not paged through. Otherwise the oldest such event counts, once the
    update's start is reached; without one, the resource's newest settled event before
    the update (paged as far back as it is).
    """
    update_began = rollback_seen = rollback_retried = False
    in_update: str | None = None
    for event in events:
        stack_level = event.resource_type == _STACK_TYPE and event.physical_id == stack_id
        if update_began:
            if event.logical_id == logical_id and event.status in _SETTLED and event.physical_id:
                return EventsReading(event.physical_id)
            continue
        if stack_level:
            if event.status == "UPDATE_ROLLBACK_IN_PROGRESS":
                rollback_seen, in_update = True, None  # what came after was the rollback
            elif event.status == "UPDATE_ROLLBACK_FAILED":
                rollback_retried = True
            elif event.status == "UPDATE_IN_PROGRESS":
                if not (rollback_seen or status_known):
                    return EventsReading(None, ordinary_update=True)
                if in_update:
                    return EventsReading(in_update)
                update_began = True
        elif (
            rollback_seen
            and event.logical_id == logical_id
            and event.status == "UPDATE_IN_PROGRESS"
            and event.physical_id
        ):
            if current and event.physical_id != current and not rollback_retried:
                return EventsReading(event.physical_id)
            in_update = event.physical_id
    return EventsReading(None)


def rollback_marks(event: Mapping[str, Any]) -> tuple[str, ...]:
    """What in the Update itself says it is a rollback (see the module's docstring).

    Only an Update of a resource that holds a pin (its physical id is a build ARN) can
    be one: CloudFormation rolls back only resources it created or updated before.
    """
    if not _is_build_arn(str(event.get("PhysicalResourceId") or "")):
        return ()
    marks = []
    new, old = _refresh_tokens(event)
    if new is not None and old is not None and new < old:
        marks.append(f"{REFRESH_TOKEN.key} went back from {old} to {new}")
    properties = event.get("ResourceProperties")
    try:
        parse_properties(properties if isinstance(properties, Mapping) else {})
    except Exception as error:  # any refusal, whatever its type: never raise here
        marks.append(f"properties refused: {one_line(str(error), 200)}")
    return tuple(marks)


def says_ordinary(event: Mapping[str, Any]) -> bool:
    """Whether ``RefreshToken`` grew: a newer synth, so not a rollback."""
    new, old = _refresh_tokens(event)
    return new is not None and old is not None and new > old


def rollback_answer(
    event: Mapping[str, Any],
    deadline: Deadline,
    *,
    rollback_deadline: Deadline | None = None,
    deploy_region: str | None,
    account_id: str | None,
) -> dict[str, Any] | None:
    """The response to an Update that is a rollback, or None for an ordinary Update.

    During a rollback the answer is the previous build, its attributes re-read from
    Image Builder. When they cannot be re-read (the build was deleted, the service
    throttles), the answer keeps that build ARN with the attributes its ARN gives,
    and the log line says so. When the previous build cannot be told at all (the events
    cannot be read in time, or they and the request disagree), the resource keeps the
    physical id it already has.

    ``deadline`` bounds what an ordinary Update spends finding out that it is one;
    a rollback reads and answers within ``rollback_deadline`` (the function's whole
    timeout; default ``deadline``).
    """
    started = time.monotonic()
    stack_id = str(event.get("StackId") or "")
    logical_id = str(event.get("LogicalResourceId") or "")
    current = str(event.get("PhysicalResourceId") or "")
    record: dict[str, Any] = {
        "message": "image lookup",
        "request_type": "Update",
        "logical_id": logical_id,
    }
    rollback_time = rollback_deadline or deadline
    policy = stack_retry_policy()._replace(
        connect_timeout=REREAD_POLICY.connect_timeout, read_timeout=REREAD_POLICY.read_timeout
    )
    # A large stack's lookups spread their first call; each then reads for as long as the
    # others: its reads end as much before the others' as its first call came. Ending at
    # one moment, the stack's re-reads would all meet at Image Builder's rate limit.
    place = _FirstDraw(random.random())
    held_back = ATTRIBUTES_SECONDS + (1.0 - place.first) * policy.spread_seconds
    rollback_reads = rollback_time.sooner_by(held_back)
    readers: list[CloudFormationGateway] = []

    def new_reader(until: Deadline, retry: RetryPolicy, **jitter: Any) -> CloudFormationGateway:
        """A CloudFormation reader, counted in the log line (made where failures are caught)."""
        readers.append(CloudFormationGateway.for_stack(deploy_region, until, retry, **jitter))
        return readers[-1]

    ordinary = says_ordinary(event)
    marks = () if ordinary else rollback_marks(event)
    unspread = policy._replace(spread_seconds=0.0)
    if marks:
        # The Update says rollback: its events alone tell whether one runs, and B1.
        # The status read is skipped, one call of the few each of a stack's lookups
        # makes under CloudFormation's rate limit.
        record["rollback_marks"] = list(marks)
        status = "not read (the request marks a rollback)"
        reading = _read_events(
            lambda: new_reader(rollback_reads, policy, jitter=place),
            stack_id,
            logical_id,
            current,
            record,
            status_known=False,
        )
        if reading.ordinary_update:
            # an older cloud assembly deployed? The status confirms it (events could lag)
            confirm = rollback_reads.within(CONFIRM_SECONDS + policy.attempt_seconds)
            try:
                status = new_reader(confirm, unspread).stack_status(stack_id)
            except Exception as error:
                record["status_unread"] = _describe(error)
                status = "unknown: the events show an ordinary update, the request a rollback"
            else:
                if status not in ROLLBACK_STATUSES:
                    _log(record, started, outcome="ordinary update", stack_status=status)
                    return None
            reading = EventsReading(None)
    else:
        reads = deadline.sooner_by(held_back)
        try:
            if ordinary:
                # only a confirmation, unspread: the lookup that follows spreads its first call
                confirm = reads.within(CONFIRM_SECONDS + policy.attempt_seconds)
                status = new_reader(confirm, unspread).stack_status(stack_id)
            else:
                status = new_reader(reads, policy, jitter=place).stack_status(stack_id)
        except Exception as error:
            # Cannot tell, and nothing says rollback: resolve as an ordinary update.
            _log(record, started, outcome="stack status unread", reason=_describe(error))
            return None
        if status not in ROLLBACK_STATUSES:
            return None
        # a rollback after all: its events get the rollback's time (the first call is made)
        reading = _read_events(
            lambda: new_reader(rollback_reads, unspread),
            stack_id,
            logical_id,
            current,
            record,
            status_known=True,
        )
    previous = reading.previous
    pin = previous or current
    record.update(
        stack_status=status,
        previous_build=previous,
        kept_build=pin,
        cloudformation_calls=sum(one.calls for one in readers),
        cloudformation_retries=sum(one.retries for one in readers),
    )
    data, reread_failure = _attributes_of(
        pin, rollback_time, _image_region(event), deploy_region, account_id
    )
    if reread_failure:
        record["attributes_from_arn_only"] = reread_failure
    _log(record, started, outcome="rolled back" if previous else "kept build")
    return {"PhysicalResourceId": pin, "Data": data}


def _read_events(
    make_reader: Callable[[], CloudFormationGateway],
    stack_id: str,
    logical_id: str,
    current: str,
    record: dict[str, Any],
    *,
    status_known: bool,
) -> EventsReading:
    """``read_events`` through a reader ``make_reader`` makes; a failure is recorded, never
    raised."""
    try:
        events = make_reader().events(stack_id)
        reading = read_events(events, stack_id, logical_id, current, status_known=status_known)
    except Exception as error:
        record["events_unread"] = _describe(error)
        return EventsReading(None)
    if reading.previous is None and not reading.ordinary_update:
        record["events_unread"] = "no completed change of this lookup before the update"
    return reading


class _FirstDraw:
    """A jitter whose first draw is ``first`` (the spread's), random after that."""

    def __init__(self, first: float) -> None:
        self.first = first
        self._drawn = False

    def __call__(self) -> float:
        if self._drawn:
            return random.random()
        self._drawn = True
        return self.first


def _is_build_arn(value: str) -> bool:
    return value.startswith("arn:") and ":image/" in value


def _refresh_tokens(event: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Both RefreshTokens when they are whole numbers (the construct's synth time)."""
    return _token(event.get("ResourceProperties")), _token(event.get("OldResourceProperties"))


def _token(properties: object) -> int | None:
    value = properties.get(REFRESH_TOKEN.key) if isinstance(properties, Mapping) else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 30:
        return int(value)
    return None


def _attributes_of(
    build_arn: str,
    deadline: Deadline,
    image_region: str | None,
    deploy_region: str | None,
    account_id: str | None,
) -> tuple[dict[str, str], str]:
    """The build's ``Data`` as a lookup gives it, or what its ARN says and why.

    A build that Image Builder no longer shows may still have its AMI here: its AMIs
    outlive it, tagged with its ARN, and a launch template rolled back to an empty
    image id would fail the rollback.
    """
    policy = REREAD_POLICY
    try:
        gateway = ImageBuilderGateway.for_region(
            image_region, deadline.sooner_by(AMI_FALLBACK_SECONDS), policy
        )
        build = gateway.get_image(build_arn)
        failure = "" if build is not None and build.arn == build_arn else "build not found"
    except Exception as error:
        build, failure = None, _describe(error)
    if build is not None and not failure:
        return build_attributes(build, deploy_region or gateway.region, account_id), ""
    data = attributes_from_arn(build_arn)
    if deploy_region:
        try:
            ec2 = Ec2Gateway.for_region(deploy_region, deadline, policy)
            data[Attribute.AMI_ID] = ec2.image_id_of_build(build_arn)
        except Exception as error:
            failure += f"; AMI not found by its tag: {_describe(error)}"
    return data, failure


def _image_region(event: Mapping[str, Any]) -> str | None:
    """The lookup's Region property when it is a valid one, else None (the stack's)."""
    properties = event.get("ResourceProperties")
    region = properties.get(REGION.key) if isinstance(properties, Mapping) else None
    try:
        return validate_region(region) if isinstance(region, str) and region else None
    except InvalidInputError:
        return None


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _log(record: dict[str, Any], started: float, **outcome: Any) -> None:
    line = {**record, **outcome, "milliseconds": round((time.monotonic() - started) * 1000)}
    LOGGER.info(json.dumps(line, default=str))
