"""A stack in moto's CloudFormation, and the history a deploy writes to it.

moto cannot run a custom resource (it would invoke the Lambda in Docker), so the
stack is created from a template moto can hold, and the stack statuses and events
that CloudFormation records while it deploys and rolls back the lookup are set
through moto's own backend. What the handler then reads back goes through moto's
real DescribeStacks and DescribeStackEvents.
"""

from __future__ import annotations

import json

import boto3
from moto.cloudformation.models import Event, Stack

from local_endpoints.moto_services import MotoServices

STACK_TYPE = "AWS::CloudFormation::Stack"
#: A resource moto can create with no other service behind it.
PLACEHOLDER_TEMPLATE = json.dumps(
    {
        "Resources": {
            "Placeholder": {
                "Type": "AWS::SSM::Parameter",
                # moto needs the Name that CloudFormation would otherwise generate
                "Properties": {"Name": "placeholder", "Type": "String", "Value": "placeholder"},
            }
        }
    }
)


class StackHistory:
    """One stack's status and events, as CloudFormation would record them."""

    def __init__(self, moto_url: str, stack_name: str) -> None:
        client = boto3.client(
            "cloudformation",
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.stack_name = stack_name
        self.stack_id: str = client.create_stack(
            StackName=stack_name, TemplateBody=PLACEHOLDER_TEMPLATE
        )["StackId"]
        self._stack = MotoServices.backend("cloudformation").get_stack(self.stack_id)

    def stack_status(self, status: str) -> None:
        """The stack enters ``status`` (and a stack-level event says so)."""
        self._stack.status = status
        self._append(self.stack_name, self.stack_id, STACK_TYPE, status)

    def resource(self, logical_id: str, physical_id: str, status: str) -> None:
        """The lookup's resource reaches ``status`` with ``physical_id``."""
        self._append(logical_id, physical_id, "Custom::LatestImageBuild", status)

    def _append(self, logical_id: str, physical_id: str, resource_type: str, status: str) -> None:
        record_event(self._stack, logical_id, physical_id, resource_type, status)


def record_event(
    stack: Stack, logical_id: str, physical_id: str, resource_type: str, status: str
) -> None:
    """Add to moto's ``stack`` the event CloudFormation writes when a resource (or the stack
    itself) reaches ``status``; DescribeStackEvents lists it newest first."""
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id,
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=None,
            resource_properties=None,
        )
    )
