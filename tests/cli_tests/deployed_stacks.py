"""Deployed stacks that hold lookups, in moto's CloudFormation (server mode, real API).

moto cannot deploy a ``Custom::LatestImageBuild`` as CloudFormation does: it would invoke
the custom resource's Lambda function, which it runs in Docker (there is none here). So a
stack is created through the real CreateStack API with each lookup stood in for by a
resource moto creates with no side effect (``AWS::CloudFormation::WaitConditionHandle``),
and then given, through moto's own backend, what the deployed stack holds: the template as
it was submitted (what GetTemplate returns) and each lookup as a ``Custom::LatestImageBuild``
whose physical id is the build it pinned (what ListStackResources returns). Parameters go
through CreateStack, so DescribeStacks reports them as CloudFormation does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import boto3
from moto.cloudformation.custom_model import CustomModel

from image_lookup.contract import RESOURCE_TYPE
from local_endpoints.imagebuilder import FakeImageVersion
from local_endpoints.moto_services import ACCOUNT, REGION, MotoServices

#: A lookup's ServiceToken as the construct writes it (the Provider framework's function).
SERVICE_TOKEN = {"Fn::GetAtt": ["LatestImageBuildProviderframeworkonEvent", "Arn"]}


def lookup_resource(stack: str, construct_id: str, **properties: Any) -> dict[str, Any]:
    """A lookup as the construct synthesizes it (see tests/snapshots), with CDK's path."""
    return {
        "Type": RESOURCE_TYPE,
        "Properties": {"ServiceToken": SERVICE_TOKEN, "ServiceTimeout": "720", **properties},
        "UpdateReplacePolicy": "Delete",
        "DeletionPolicy": "Delete",
        "Metadata": {"aws:cdk:path": f"{stack}/{construct_id}/Default"},
    }


def client(
    moto: MotoServices,
    service: Literal["cloudformation", "ec2", "organizations", "sts"],
    account: str = ACCOUNT,
    region: str = REGION,
) -> Any:
    """A boto3 client of ``service`` talking to moto, acting in ``account``.

    Another account than moto's default is reached as AWS reaches it: with the credentials
    of a role assumed there (moto keeps one backend per account and acts in the account of
    the assumed role's ARN).
    """
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if account != ACCOUNT:
        sts = client(moto, "sts")
        found = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/test-setup", RoleSessionName="setup"
        )["Credentials"]
        credentials = {
            "aws_access_key_id": found["AccessKeyId"],
            "aws_secret_access_key": found["SecretAccessKey"],
            "aws_session_token": found["SessionToken"],
        }
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=moto.url, region_name=region, **credentials
    )


def deploy(
    moto: MotoServices,
    name: str,
    template: Mapping[str, Any],
    pins: Mapping[str, str],
    parameters: Mapping[str, str] | None = None,
    *,
    account: str = ACCOUNT,
    region: str = REGION,
    cloudformation: Any = None,
) -> str:
    """Create stack ``name`` as deployed from ``template``; ``pins``: lookup id -> build ARN.

    ``cloudformation``: a client acting in ``account`` and ``region`` to reuse (many stacks).

    Every ``Custom::LatestImageBuild`` of the template must be pinned; other resources are
    not allowed (moto would try to create them when the stack's resources are listed).
    """
    resources = template["Resources"]
    assert set(pins) == set(resources), "pin every lookup, and hold nothing else"
    stand_in: dict[str, Any] = {
        "Resources": {
            logical_id: {"Type": "AWS::CloudFormation::WaitConditionHandle"}
            for logical_id in resources
        }
    }
    if "Parameters" in template:
        stand_in["Parameters"] = template["Parameters"]
    cloudformation = cloudformation or client(moto, "cloudformation", account, region)
    stack_id: str = cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(stand_in),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in (parameters or {}).items()
        ],
    )["StackId"]
    # moto's backend: what CloudFormation would hold once the custom resources were created
    stack = MotoServices.backend("cloudformation", account, region).get_stack(stack_id)
    stack.template = json.dumps(template)
    stack._parse_template()
    stack.resource_map._resource_json_map = stack.template_dict["Resources"]
    for logical_id, build_arn in pins.items():
        # the class moto's CreateStack makes for every Custom:: resource (its typing marks it
        # abstract; moto instantiates it as here)
        resource = CustomModel(  # type: ignore[abstract]
            region, str(uuid.uuid4()), logical_id, build_arn
        )
        # as moto's parsing.parse_and_create_resource sets them on every resource it makes
        resource.cf_resource_type = RESOURCE_TYPE  # type: ignore[attr-defined]
        resource.logical_resource_id = logical_id  # type: ignore[attr-defined]
        resource.set_data({})
        stack.resource_map._parsed_resources[logical_id] = resource
    return stack_id


def register_ami(
    moto: MotoServices, name: str, account: str = ACCOUNT, region: str = REGION
) -> str:
    """An AMI that EC2 (moto) holds in ``account`` and ``region``, made the way an AMI is
    made: from an instance."""
    ec2 = client(moto, "ec2", account, region)
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]
    image_id: str = ec2.create_image(InstanceId=instance["InstanceId"], Name=name)["ImageId"]
    return image_id


def with_amis(
    moto: MotoServices,
    image: FakeImageVersion,
    places: tuple[tuple[str, str], ...] = ((ACCOUNT, REGION),),
) -> FakeImageVersion:
    """Give every build of ``image`` an AMI that EC2 holds in each ``(account, region)``,
    listed in outputResources.amis as distribution lists its copies (region, image,
    accountId)."""
    for build in image.builds:
        build.amis = [
            {
                "region": region,
                "image": register_ami(
                    moto, f"{image.name} {image.version}/{build.number}", account, region
                ),
                "accountId": account,
                "state": {"status": "AVAILABLE"},
            }
            for account, region in places
        ]
    return image
