"""The registry's entry point: pin reports from the registry's bus, and the daily sweep.

EventBridge invokes it asynchronously with the event (a rule on the
``latest-image-build-pins`` bus, and a daily schedule). The function's own
account, read from its ARN, is the registry's: it keeps only builds of that
account. A report it refuses (not a pin report, or one about another
account's stack) is logged and dropped; a report it could not apply raises,
so that Lambda retries it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from image_lookup.deadline import Deadline
from image_lookup.errors import InvalidInputError
from image_lookup.pins import PIN_EVENT_SOURCE, parse_pin_event
from pin_registry.marker import BuildMarker
from pin_registry.registry import DEFAULT_LEASE_SECONDS, Registry
from pin_registry.store_api import PinStore

LOGGER = logging.getLogger("pin_registry")
LOGGER.setLevel(logging.INFO)
TABLE_ENV = "PIN_TABLE_NAME"
LEASE_ENV = "LEASE_SECONDS"
#: ``source`` and ``detail-type`` of an EventBridge schedule's events (EventBridge User
#: Guide, "Creating a rule that runs on a schedule").
SCHEDULE_SOURCE = "aws.events"
SCHEDULE_DETAIL_TYPE = "Scheduled Event"


def on_event(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Apply a pin report, or sweep ended leases on the daily schedule."""
    started = time.monotonic()
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    deadline = Deadline(remaining_ms if callable(remaining_ms) else None)
    account = str(getattr(context, "invoked_function_arn", "")).split(":")[4:5]
    registry = Registry(
        PinStore.for_table(os.environ[TABLE_ENV], os.environ.get("AWS_REGION"), deadline),
        BuildMarker(account[0] if account else "", deadline),
        lease_seconds=int(os.environ.get(LEASE_ENV) or DEFAULT_LEASE_SECONDS),
    )
    line: dict[str, Any] = {"message": "pin registry"}
    try:
        if (
            event.get("source") == SCHEDULE_SOURCE
            and event.get("detail-type") == SCHEDULE_DETAIL_TYPE
        ):
            line.update(action="sweep", **registry.sweep())
        elif event.get("source") == PIN_EVENT_SOURCE:
            try:
                report = parse_pin_event(event)
            except InvalidInputError as error:
                line.update(outcome="refused", reason=error.reason, account=event.get("account"))
                return line
            line.update(action=report.action, account=report.sender_account, stack=report.stack_id)
            line.update(pins=registry.handle(report))
        else:
            line.update(outcome="refused", reason=f"not a pin report: {event.get('source')!r}")
    finally:
        line.update(calls=registry.calls, milliseconds=round((time.monotonic() - started) * 1000))
        LOGGER.info(json.dumps(line, default=str))
    return line
