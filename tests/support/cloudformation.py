"""A synthesized stack as CloudFormation would deploy it, and the events it would send.

Custom resource request objects (CloudFormation User Guide, "Custom resource
request objects"): ``RequestType``, ``ResponseURL``, ``StackId``, ``RequestId``,
``ResourceType``, ``LogicalResourceId``, ``ResourceProperties`` (with
``ServiceToken`` and, when the template sets it, ``ServiceTimeout``), plus
``PhysicalResourceId`` on Update and Delete and ``OldResourceProperties`` on
Update. Every property value arrives as a string: CloudFormation turns numbers
and booleans in a custom resource's properties into text.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_endpoints.lambda_service import LocalLambda

REGION = "us-east-1"
ACCOUNT = "123456789012"
PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


class DeployedStack:
    """A template from a cloud assembly, with physical names made as CloudFormation makes them."""

    def __init__(self, assembly_dir: Path, stack_name: str, parameters: Mapping[str, str]) -> None:
        self.assembly_dir = assembly_dir
        self.stack_name = stack_name
        self.template: dict[str, Any] = json.loads(
            (assembly_dir / f"{stack_name}.template.json").read_text()
        )
        self.resources: dict[str, dict[str, Any]] = self.template["Resources"]
        self.parameters = dict(parameters)
        self.stack_id = (
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{uuid.uuid4()}"
        )
        # CloudFormation names an unnamed resource <stack>-<logical id, cut>-<random suffix>.
        self.physical_names = {
            logical_id: f"{stack_name}-{logical_id[:30]}-{secrets.token_hex(6).upper()}"
            for logical_id in self.resources
        }

    def of_type(self, resource_type: str) -> list[str]:
        """Logical ids of every resource of ``resource_type``."""
        return [key for key, res in self.resources.items() if res["Type"] == resource_type]

    def function_arn(self, logical_id: str) -> str:
        """The ARN a deployed AWS::Lambda::Function would have."""
        name = self.physical_names[logical_id]
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"

    def asset_dir(self, function_id: str) -> Path:
        """Where the assembly keeps the function's code (its S3Key names the asset)."""
        s3_key = self.resources[function_id]["Properties"]["Code"]["S3Key"]
        return self.assembly_dir / f"asset.{s3_key.removesuffix('.zip')}"

    def run_function(self, function_id: str, environment: Mapping[str, str]) -> LocalLambda:
        """The function as Lambda would run it: its synthesized asset, handler and timeout,
        under awslambdaric (``local_endpoints/lambda_service.py``); started."""
        properties = self.resources[function_id]["Properties"]
        return LocalLambda(
            code_dir=self.asset_dir(function_id),
            handler=properties["Handler"],
            function_arn=self.function_arn(function_id),
            timeout_seconds=int(properties["Timeout"]),
            environment=dict(environment),
        ).start()

    def resolve(self, value: Any) -> Any:
        """Evaluate the intrinsic functions a deploy would, for the ones this library uses."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            if argument in PSEUDO_PARAMETERS:
                return PSEUDO_PARAMETERS[argument]
            if argument == "AWS::StackName":
                return self.stack_name
            if argument in self.parameters:
                return self.parameters[argument]
            return self.physical_names[argument]
        if function == "Fn::GetAtt":
            logical_id, attribute = argument
            if self.resources[logical_id]["Type"] == "AWS::Lambda::Function" and attribute == "Arn":
                return self.function_arn(logical_id)
            raise NotImplementedError(f"GetAtt {logical_id}.{attribute}")
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(str(self.resolve(part)) for part in parts)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        return {function: self.resolve(argument)}

    def created_before(self, logical_id: str) -> set[str]:
        """Every resource CloudFormation must create before ``logical_id``.

        Its DependsOn, Ref and Fn::GetAtt edges, followed transitively.
        """
        found: set[str] = set()
        pending = [logical_id]
        while pending:
            resource = self.resources[pending.pop()]
            direct = set(resource.get("DependsOn", [])) | _referenced(resource, set(self.resources))
            pending.extend(direct - found)
            found |= direct
        return found

    def resource_properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's Properties as the custom resource receives them: resolved, strings."""
        properties: dict[str, Any] = _as_strings(
            self.resolve(self.resources[logical_id]["Properties"])
        )
        return properties

    def event(
        self,
        request_type: str,
        logical_id: str,
        response_url: str,
        *,
        physical_id: str | None = None,
        old_properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A request object CloudFormation would send for ``logical_id``."""
        properties = self.resource_properties(logical_id)
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": properties["ServiceToken"],
            "ResponseURL": response_url,
            "StackId": self.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": logical_id,
            "ResourceType": self.resources[logical_id]["Type"],
            "ResourceProperties": properties,
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old_properties is not None:
            event["OldResourceProperties"] = old_properties
        return event


def _as_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_strings(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _referenced(value: Any, logical_ids: set[str]) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_referenced(item, logical_ids) for item in value))
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for key, item in value.items():
        if key == "Ref" and item in logical_ids:
            found.add(item)
        elif key == "Fn::GetAtt" and item[0] in logical_ids:
            found.add(item[0])
        else:
            found |= _referenced(item, logical_ids)
    return found
