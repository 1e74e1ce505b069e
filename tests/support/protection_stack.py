"""What the protection end-to-end test and benchmark need around a synthesized stack.

* ``NamedDeployedStack``: ``DeployedStack`` whose ``Ref`` gives what CloudFormation gives
  for a resource the template names (``Ref`` of an ``AWS::DynamoDB::Table`` is its table
  name, of an ``AWS::Events::EventBus`` its name: CloudFormation User Guide, each
  resource's "Return values"), and ``AWS::StackId`` the stack's id.
* ``MotoLookupStack``: the stack in moto's CloudFormation (server mode). moto cannot create
  a ``Custom::LatestImageBuild`` (it would run the Provider framework's Lambda in Docker),
  so the stack is created with a stand-in resource per lookup and, through moto's own
  backend, given what CloudFormation records as the deploy goes: the stack's status and
  each lookup's physical id (what ListStackResources then returns), and the stack events
  that record both (what DescribeStackEvents returns, for rollbacks).
* ``ReportCapture``: the registry's bus in moto's EventBridge, with a rule of the
  synthesized ``ImageFactory`` rule's ``EventPattern`` sending to an SQS queue, so the pin
  reports a lookup sends can be read back as EventBridge would deliver them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

import boto3
from moto.cloudformation.custom_model import CustomModel

from image_lookup.pins import REGISTRY_NAME
from local_endpoints.moto_services import REGION, MotoServices
from tests.support.cloudformation import DeployedStack
from tests.support.registry import WHOLE_EVENT
from tests.support.stack_history import record_event

#: The property that names a resource, where ``Ref`` returns that name.
NAME_PROPERTIES = {"AWS::DynamoDB::Table": "TableName", "AWS::Events::EventBus": "Name"}
RESOURCE_TYPE = "Custom::LatestImageBuild"
STACK_TYPE = "AWS::CloudFormation::Stack"


def moto_client(moto: MotoServices, service: str, region: str = REGION) -> Any:
    """A boto3 client of ``service`` on moto, in moto's default account."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=moto.url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class NamedDeployedStack(DeployedStack):
    """``DeployedStack`` with ``Ref`` of named resources and of ``AWS::StackId``."""

    def resolve(self, value: Any) -> Any:
        """As ``DeployedStack.resolve``, plus the ``Ref`` forms above."""
        if isinstance(value, dict) and list(value) == ["Ref"]:
            target = value["Ref"]
            if target == "AWS::StackId":
                return self.stack_id
            resource = self.resources.get(target) or {}
            name_property = NAME_PROPERTIES.get(str(resource.get("Type")))
            if name_property and name_property in resource.get("Properties", {}):
                return self.resolve(resource["Properties"][name_property])
        return super().resolve(value)

    def function_with_handler(self, handler: str) -> str:
        """The logical id of the one function whose ``Handler`` is ``handler``."""
        (found,) = [
            key
            for key in self.of_type("AWS::Lambda::Function")
            if self.resources[key]["Properties"]["Handler"] == handler
        ]
        return found

    def environment(self, function_id: str) -> dict[str, str]:
        """The function's environment variables, resolved."""
        variables = self.resources[function_id]["Properties"].get("Environment", {})
        return {
            key: str(self.resolve(item)) for key, item in variables.get("Variables", {}).items()
        }


class MotoLookupStack:
    """A stack in moto's CloudFormation holding lookups, as a deploy leaves it."""

    def __init__(self, moto: MotoServices, stack_name: str, lookups: Iterable[str]) -> None:
        self.stack_name = stack_name
        self.lookups = list(lookups)
        stand_in = {
            "Resources": {
                # a resource moto's CloudFormation creates (in moto's SQS) and lists
                logical_id: {"Type": "AWS::SQS::Queue", "Properties": {}}
                for logical_id in self.lookups
            }
        }
        client = moto_client(moto, "cloudformation")
        self.stack_id: str = client.create_stack(
            StackName=stack_name, TemplateBody=json.dumps(stand_in)
        )["StackId"]
        self._stack = MotoServices.backend("cloudformation").get_stack(self.stack_id)

    def status(self, status: str) -> None:
        """The stack enters ``status`` (DescribeStacks), and a stack event says so."""
        self._stack.status = status
        self._event(self.stack_name, self.stack_id, STACK_TYPE, status)

    def pin(self, logical_id: str, build_arn: str, status: str) -> None:
        """The lookup reached ``status`` with physical id ``build_arn``: its stack event
        (DescribeStackEvents) and its resource (ListStackResources)."""
        self._event(logical_id, build_arn, RESOURCE_TYPE, status)
        # the class moto's CreateStack makes for every Custom:: resource, with the
        # attributes moto's ListStackResources reads (as parse_and_create_resource sets them)
        resource = CustomModel(  # type: ignore[abstract]
            REGION, str(uuid.uuid4()), logical_id, build_arn
        )
        resource.cf_resource_type = RESOURCE_TYPE  # type: ignore[attr-defined]
        resource.logical_resource_id = logical_id  # type: ignore[attr-defined]
        resource.set_data({})
        self._stack.resource_map._parsed_resources[logical_id] = resource

    def _event(self, logical_id: str, physical_id: str, resource_type: str, status: str) -> None:
        record_event(self._stack, logical_id, physical_id, resource_type, status)


class ReportCapture:
    """The registry's bus in moto, its synthesized rule's pattern routed to a queue."""

    def __init__(self, moto: MotoServices, event_pattern: dict[str, Any]) -> None:
        self._events = moto_client(moto, "events")
        self._sqs = moto_client(moto, "sqs")
        self.bus_arn: str = self._events.create_event_bus(Name=REGISTRY_NAME)["EventBusArn"]
        self.queue_url: str = self._sqs.create_queue(QueueName="pin-reports")["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self._events.put_rule(
            Name="pin-reports", EventBusName=REGISTRY_NAME, EventPattern=json.dumps(event_pattern)
        )
        self._events.put_targets(
            Rule="pin-reports",
            EventBusName=REGISTRY_NAME,
            Targets=[{"Id": "queue", "Arn": queue_arn, "InputTransformer": WHOLE_EVENT}],
        )

    def received(self) -> list[dict[str, Any]]:
        """Every event delivered since the last call, in order (the queue is emptied)."""
        found: list[dict[str, Any]] = []
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                self._sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
                found.append(json.loads(message["Body"]))


def create_table(moto: MotoServices, table: dict[str, Any]) -> str:
    """CreateTable in moto with a synthesized ``AWS::DynamoDB::Table``'s Properties."""
    moto_client(moto, "dynamodb").create_table(
        TableName=table["TableName"],
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode=table["BillingMode"],
    )
    return str(table["TableName"])
