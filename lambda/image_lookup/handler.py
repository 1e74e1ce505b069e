"""Custom resource entry point for aws-cdk-lib's ``custom_resources.Provider``.

A thin dispatcher: Create and Update resolve the image, except that an Update
during a rollback answers with the build the stack had before (``rollback``).
With ``ProtectPinnedBuild`` the lookup reports its pin to the build owner's pin
registry (``pin_reports``): Create and Update acquire, Delete (the stack's, or
CloudFormation's cleanup of a replaced pin) releases; otherwise Delete does
nothing. It returns ``{"PhysicalResourceId", "Data"}`` and raises on failure;
the exception's text becomes the stack event's reason. The stack's daily
renewal rule invokes it too, with its own input (``pins.RENEWAL_MARK``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from image_lookup import pin_reports
from image_lookup.contract import ORDINARY_WORK_SECONDS, Attribute
from image_lookup.deadline import Deadline
from image_lookup.errors import ImageLookupError, InvalidInputError, show_value
from image_lookup.lookup_runner import lookup_image
from image_lookup.pins import RENEWAL_MARK, RENEWAL_VALUE, Holder
from image_lookup.properties import ignored_properties, parse_properties
from image_lookup.protection import protection_requested
from image_lookup.retry import stack_retry_policy
from image_lookup.rollback import rollback_answer


def on_event(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Handle one CloudFormation lifecycle event for ``Custom::LatestImageBuild``."""
    request_type = event.get("RequestType") if isinstance(event, Mapping) else None
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    function_time = Deadline(remaining_ms if callable(remaining_ms) else None)
    # only a rollback, which must never fail, may take the function's whole timeout
    deadline = function_time.within(ORDINARY_WORK_SECONDS)
    if isinstance(event, Mapping) and event.get(RENEWAL_MARK) == RENEWAL_VALUE:
        return pin_reports.renew(event, deadline)
    if request_type == "Delete":
        return _delete(event, deadline)
    if request_type not in ("Create", "Update"):
        raise InvalidInputError(f"unsupported RequestType {show_value(request_type)}")
    deploy_region, account_id = _stack_location(event)
    if request_type == "Update":
        # before the properties are checked: a rollback never fails because of them
        restored = rollback_answer(
            event,
            deadline,
            rollback_deadline=function_time,
            deploy_region=deploy_region,
            account_id=account_id,
        )
        if restored is not None:
            holder = _holder(event, "ResourceProperties")
            if holder is not None:
                # the registry still holds it until cleanup; reporting is best effort here
                pin = holder.pin(str(restored["PhysicalResourceId"]))
                pin_reports.acquire(pin, function_time, best_effort=True)
            return restored
        # not a rollback: the lookup has an ordinary request's time from here on (telling
        # may have paged the events, with a rollback's time)
        deadline = function_time.within(ORDINARY_WORK_SECONDS)
    return _resolve(event, str(request_type), deadline, deploy_region, account_id)


def _delete(event: Mapping[str, Any], deadline: Deadline) -> dict[str, Any]:
    """No lookup; with protection, this lookup's pin is released. Never fails."""
    physical_id = event.get("PhysicalResourceId")
    holder = _holder(event, "ResourceProperties")
    if physical_id and holder is not None:
        pin_reports.release(holder.pin(str(physical_id)), deadline)
    return {"PhysicalResourceId": physical_id} if physical_id else {}


def _holder(event: Mapping[str, Any], properties_key: str) -> Holder | None:
    """Who pins, when the event's ``properties_key`` properties ask for protection; None
    otherwise, or when the event names no stack (logged: never raises)."""
    if not protection_requested(event.get(properties_key)):
        return None
    try:
        return Holder.from_event(event)
    except ImageLookupError as error:
        pin_reports.LOGGER.info(error.reason)
        return None


def _resolve(
    event: Mapping[str, Any],
    request_type: str,
    deadline: Deadline,
    deploy_region: str | None,
    account_id: str | None,
) -> dict[str, Any]:
    """Create, or an ordinary Update: resolve the lookup, then protect (or release) its pin."""
    properties = event.get("ResourceProperties") or {}
    request = parse_properties(properties)
    # who pins, read once from the event; a protected lookup needs it before any call
    holder = Holder.from_event(event) if request.protect else None
    data = lookup_image(
        request,
        deadline,
        deploy_region=deploy_region,
        account_id=account_id,
        # a large stack's lookups spread their first calls (pacing)
        retry_policy=stack_retry_policy(),
        log_context={
            "request_type": request_type,
            "logical_id": event.get("LogicalResourceId"),
            # Unknown keys are not an error (CloudFormation adds its own); they are shown here.
            "ignored_properties": list(ignored_properties(properties)),
        },
    )
    # the build ARN is the physical id, so Ref gives it and the console shows it
    pinned = data[Attribute.IMAGE_BUILD_VERSION_ARN]
    if holder is not None:
        pin_reports.acquire(holder.pin(pinned), deadline)
    elif request_type == "Update":
        previous = _holder(event, "OldResourceProperties")
        if previous is not None and event.get("PhysicalResourceId"):
            # protection was switched off: the pin this lookup had lets go now
            pin_reports.release(previous.pin(str(event["PhysicalResourceId"])), deadline)
    return {"PhysicalResourceId": pinned, "Data": data}


def _stack_location(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Region and account the stack deploys in, read from its StackId ARN."""
    parts = str(event.get("StackId") or "").split(":")
    if len(parts) >= 5 and parts[0] == "arn" and parts[3] and parts[4]:
        return parts[3], parts[4]
    return os.environ.get("AWS_REGION"), None
