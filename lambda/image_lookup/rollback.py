"""Rollbacks: answer with the build the stack had before the update that failed.

When a stack update fails, CloudFormation sends this resource an Update with the
last good template's properties (CloudFormation User Guide, "Update" custom
resource request; the Update -> rollback Update sequence of aws-cdk PR #29581).
A fresh lookup would keep the new build, or fail and leave the stack in
UPDATE_ROLLBACK_FAILED. Instead the handler reads what CloudFormation itself
records: the stack's status tells a rollback (DescribeStacks), and the stack's
events (DescribeStackEvents) tell the physical id, the build ARN, that the
resource had when the failed update began. Nothing here ever raises: a rollback
must not fail because of the lookup.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from image_lookup.cloudformation_api import CloudFormationGateway, StackEvent
from image_lookup.contract import REGION, Attribute
from image_lookup.deadline import Deadline
from image_lookup.ec2_api import Ec2Gateway
from image_lookup.errors import InvalidInputError
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.outputs import attributes_from_arn, build_attributes
from image_lookup.properties import validate_region

LOGGER = logging.getLogger("image_lookup")

#: The stack status while CloudFormation rolls a failed update back (also after
#: ContinueUpdateRollback).
ROLLBACK_STATUSES = frozenset({"UPDATE_ROLLBACK_IN_PROGRESS"})
_STACK_TYPE = "AWS::CloudFormation::Stack"
#: Resource statuses after which the resource held the physical id the event names.
_SETTLED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})


def pin_before_failed_update(
    events: Iterable[StackEvent], stack_id: str, logical_id: str
) -> str | None:
    """The physical id ``logical_id`` had when the stack's latest update began, or None.

    ``events`` are newest first. The update that failed began at the newest
    stack-level UPDATE_IN_PROGRESS event (stack-level events name the stack's own
    ARN as their physical id; a nested stack's resource events do not); the
    resource's newest settled event before that holds the pin the stack had.
    """
    update_began = False
    for event in events:
        if not update_began:
            update_began = (
                event.resource_type == _STACK_TYPE
                and event.physical_id == stack_id
                and event.status == "UPDATE_IN_PROGRESS"
            )
            continue
        if event.logical_id == logical_id and event.status in _SETTLED and event.physical_id:
            return event.physical_id
    return None


def rollback_answer(
    event: Mapping[str, Any],
    deadline: Deadline,
    *,
    deploy_region: str | None,
    account_id: str | None,
) -> dict[str, Any] | None:
    """The response to an Update that is a rollback, or None for an ordinary Update.

    During a rollback the answer is the previous build, its attributes re-read from
    Image Builder. When they cannot be re-read (the build was deleted, the service
    throttles), the answer keeps that build ARN with the attributes its ARN gives,
    and the log line says so. When the previous build cannot be told at all, the
    resource keeps the physical id it already has.
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
    try:
        cloudformation = CloudFormationGateway.for_stack(deploy_region, deadline)
        status = cloudformation.stack_status(stack_id)
    except Exception as error:
        # Cannot tell: an ordinary update is by far the likelier, so resolve as one.
        _log(record, started, outcome="stack status unread", reason=_describe(error))
        return None
    if status not in ROLLBACK_STATUSES:
        return None
    try:
        previous = pin_before_failed_update(cloudformation.events(stack_id), stack_id, logical_id)
    except Exception as error:
        previous = None
        record["events_unread"] = _describe(error)
    pin = previous or current
    record.update(stack_status=status, previous_build=previous, kept_build=pin)
    data, reread_failure = _attributes_of(
        pin, deadline, _image_region(event), deploy_region, account_id
    )
    if reread_failure:
        record["attributes_from_arn_only"] = reread_failure
    _log(record, started, outcome="rolled back")
    return {"PhysicalResourceId": pin, "Data": data}


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
    try:
        gateway = ImageBuilderGateway.for_region(image_region, deadline)
        build = gateway.get_image(build_arn)
        failure = "" if build is not None and build.arn == build_arn else "build not found"
    except Exception as error:
        build, failure = None, _describe(error)
    if build is not None and not failure:
        return build_attributes(build, deploy_region or gateway.region, account_id), ""
    data = attributes_from_arn(build_arn)
    if deploy_region:
        try:
            ec2 = Ec2Gateway.for_region(deploy_region, deadline)
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
