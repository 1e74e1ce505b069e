"""Custom resource entry point for aws-cdk-lib's ``custom_resources.Provider``.

A thin dispatcher: Create and Update resolve the image, except that an Update
during a rollback answers with the build the stack had before (``rollback``);
Delete does nothing. It returns ``{"PhysicalResourceId", "Data"}`` and raises on
failure; the exception's text becomes the stack event's reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from image_lookup.contract import Attribute
from image_lookup.deadline import Deadline
from image_lookup.errors import InvalidInputError, show_value
from image_lookup.lookup_runner import lookup_image
from image_lookup.properties import ignored_properties, parse_properties
from image_lookup.rollback import rollback_answer


def on_event(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Handle one CloudFormation lifecycle event for ``Custom::LatestImageBuild``."""
    request_type = event.get("RequestType") if isinstance(event, Mapping) else None
    if request_type == "Delete":
        # Nothing was created, so there is nothing to remove; never fail here.
        physical_id = event.get("PhysicalResourceId")
        return {"PhysicalResourceId": physical_id} if physical_id else {}
    if request_type not in ("Create", "Update"):
        raise InvalidInputError(f"unsupported RequestType {show_value(request_type)}")
    deploy_region, account_id = _stack_location(event)
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    deadline = Deadline(remaining_ms if callable(remaining_ms) else None)
    if request_type == "Update":
        # before the properties are checked: a rollback never fails because of them
        restored = rollback_answer(
            event, deadline, deploy_region=deploy_region, account_id=account_id
        )
        if restored is not None:
            return restored
    properties = event.get("ResourceProperties") or {}
    request = parse_properties(properties)
    data = lookup_image(
        request,
        deadline,
        deploy_region=deploy_region,
        account_id=account_id,
        log_context={
            "request_type": request_type,
            "logical_id": event.get("LogicalResourceId"),
            # Unknown keys are not an error (CloudFormation adds its own); they are shown here.
            "ignored_properties": list(ignored_properties(properties)),
        },
    )
    # the build ARN is the physical id, so Ref gives it and the console shows it
    return {"PhysicalResourceId": data[Attribute.IMAGE_BUILD_VERSION_ARN], "Data": data}


def _stack_location(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Region and account the stack deploys in, read from its StackId ARN."""
    parts = str(event.get("StackId") or "").split(":")
    if len(parts) >= 5 and parts[0] == "arn" and parts[3] and parts[4]:
        return parts[3], parts[4]
    return os.environ.get("AWS_REGION"), None
