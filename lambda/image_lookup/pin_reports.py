"""Report a protected lookup's pin to its registry: acquire, release, and the daily renewal.

The rules are in ``pins``; the registry (``pin_registry``, the ``ImageFactory``'s
function) records holders and keeps the marker tag. A lookup only sends reports,
so a failed protect leaves nothing behind: either the registry has the report or
the deploy fails. One structured log line per report.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from image_lookup.cloudformation_api import CloudFormationGateway
from image_lookup.deadline import Deadline
from image_lookup.errors import (
    AccessDeniedError,
    ImageLookupError,
    InvalidInputError,
    ServiceError,
    one_line,
    show_value,
)
from image_lookup.events_api import BusMissingError, EntryRefusedError, EventsGateway
from image_lookup.pins import (
    ACQUIRE,
    RELEASE,
    RENEW,
    Holder,
    Pin,
    pin_event_entry,
)
from image_lookup.retry import DEFAULT_RETRY_POLICY, RetryPolicy

LOGGER = logging.getLogger("image_lookup")
LOGGER.setLevel(logging.INFO)
#: The custom resource type whose physical ids are the pinned builds.
RESOURCE_TYPE = "Custom::LatestImageBuild"


def acquire(
    pin: Pin,
    deadline: Deadline,
    *,
    best_effort: bool = False,
    retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> dict[str, Any]:
    """Tell the build's registry that ``pin.holder`` pins it.

    Raises an ImageLookupError with a one-line reason (the deploy fails, and
    nothing was recorded); with ``best_effort`` (a rollback) it only logs it.
    """
    return _report(ACQUIRE, pin, deadline, retry_policy, raise_failure=not best_effort)


def release(
    pin: Pin, deadline: Deadline, *, retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY
) -> dict[str, Any]:
    """Tell the build's registry that ``pin.holder`` lets go. Never raises (Delete never
    fails): a report that cannot be sent is logged, and the holder's lease runs out."""
    return _report(RELEASE, pin, deadline, retry_policy, raise_failure=False)


def _report(
    action: str, pin: Pin, deadline: Deadline, policy: RetryPolicy, *, raise_failure: bool
) -> dict[str, Any]:
    started = time.monotonic()
    record: dict[str, Any] = {
        "message": "pin protection",
        "action": action,
        "build": pin.build_arn,
        "stack": pin.holder.stack_name,
        "logical_id": pin.holder.logical_id,
    }
    gateway: EventsGateway | None = None
    try:
        bus = pin.registry_bus_arn
        record["registry"] = bus
        gateway = EventsGateway.for_region(bus.split(":")[3], deadline, policy)
        _send(gateway, bus, [pin_event_entry(action, pin.holder.stack_id, [pin], bus)])
        record["outcome"] = "reported"
    except Exception as error:
        if isinstance(error, ImageLookupError):
            reason = error.reason
        else:
            LOGGER.exception("unexpected failure")
            reason = one_line(f"{type(error).__name__}: {error}")
        record.update(outcome="failed", reason=reason)
        if raise_failure:
            _log(record, started, gateway)
            raise
    return _log(record, started, gateway)


def renew(
    event: Mapping[str, Any],
    deadline: Deadline,
    *,
    retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> dict[str, Any]:
    """The daily renewal: report every protected pin of the stack to its registry.

    ``event`` is the renewal rule's input: ``{"latest-image-build": "renew-pins",
    "stackId": ..., "lookups": [logical ids of protected lookups]}``. The builds are
    the lookups' physical ids, read from the stack (ListStackResources), so the
    report says what the stack pins now; a holder the report no longer names is not
    renewed, and its lease ends. Raises on failure (the rule retries it).
    """
    stack_id = str(event.get("stackId") or "")
    lookups = event.get("lookups")
    if not isinstance(lookups, list) or not all(isinstance(item, str) for item in lookups):
        raise InvalidInputError(f"renewal without a list of lookups: {show_value(lookups)}")
    whole_stack = Holder(stack_id, "-")
    whole_stack.check()
    started = time.monotonic()
    stack = CloudFormationGateway.for_stack(whole_stack.region, deadline)
    protected = set(lookups)
    pins = [
        Holder(stack_id, logical_id).pin(build)
        for logical_id, build in stack.resources_of_type(stack_id, RESOURCE_TYPE)
        if logical_id in protected and build.startswith("arn:")
    ]
    by_bus = _by_registry(pins)
    calls = 0
    for bus, bus_pins in sorted(by_bus.items()):
        gateway = EventsGateway.for_region(bus.split(":")[3], deadline, retry_policy)
        _send(gateway, bus, [pin_event_entry(RENEW, stack_id, bus_pins, bus)])
        calls += gateway.calls
    line = {
        "message": "pin protection",
        "action": RENEW,
        "stack": whole_stack.stack_name,
        "pins": len(pins),
        "registries": sorted(by_bus),
        "calls": calls + stack.calls,
        "milliseconds": round((time.monotonic() - started) * 1000),
    }
    LOGGER.info(json.dumps(line))
    return line


def _send(gateway: EventsGateway, bus: str, entries: list[dict[str, Any]]) -> None:
    """Send the reports; a failure says what a registry needs."""
    try:
        gateway.send(entries)
    except BusMissingError as error:
        raise ServiceError(no_registry_reason(bus)) from error
    except AccessDeniedError as error:
        # a bus of another account answers AccessDenied when its policy keeps us out
        raise AccessDeniedError(
            f"{error.reason}; or the pin registry's bus {bus} does not let this "
            "account in (ImageFactory organization_id)"
        ) from error
    except EntryRefusedError as error:
        raise ServiceError(
            f"the pin registry {bus} refused the report: {error.code}: {error.message}"
        ) from error


def no_registry_reason(bus_arn: str) -> str:
    """The one line for a registry bus that does not exist."""
    parts = bus_arn.split(":")
    where = f"account {parts[4]}, region {parts[3]}" if len(parts) > 4 else bus_arn
    return (
        f"no pin registry at {bus_arn}: protect_pinned_build reports pins to the "
        f"ImageFactory of the image's owner ({where}); deploy one there or turn protection off"
    )


def _by_registry(pins: Iterable[Pin]) -> dict[str, list[Pin]]:
    grouped: dict[str, list[Pin]] = {}
    for pin in pins:
        try:
            grouped.setdefault(pin.registry_bus_arn, []).append(pin)
        except InvalidInputError:
            continue  # a build no registry keeps (it was never protected)
    return grouped


def _log(record: dict[str, Any], started: float, gateway: EventsGateway | None) -> dict[str, Any]:
    line = {
        **record,
        "calls": gateway.calls if gateway else 0,
        "milliseconds": round((time.monotonic() - started) * 1000),
    }
    LOGGER.info(json.dumps(line, default=str))
    return line
