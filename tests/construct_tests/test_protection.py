"""protect_pinned_build in the template: IAM only where used, and lifecycle exclusion rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_imagebuilder as imagebuilder
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from constructs_lib import LatestImageBuild
from tests.support.synth import cdk_json_context

pytestmark = pytest.mark.synth

ACCOUNT = "111122223333"
TAGGING = ("imagebuilder:TagResource", "imagebuilder:UntagResource")
AMI_ACTIONS = ("ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeImages")
OUR_KEYS_ONLY = {"ForAllValues:StringLike": {"aws:TagKeys": ["latest-image-build:*"]}}


def flatten(value: Any) -> str:
    """A resolved ARN as text, with Refs shown as <Name>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    separator, parts = value["Fn::Join"]
    return str(separator).join(flatten(part) for part in parts)


def grants(stack: cdk.Stack) -> set[tuple[str, str, str]]:
    """(action, resource, condition) of every statement in the stack's policies."""
    found = set()
    for policy in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions, resources = statement["Action"], statement["Resource"]
            condition = json.dumps(statement.get("Condition"), sort_keys=True)
            for action in actions if isinstance(actions, list) else [actions]:
                for resource in resources if isinstance(resources, list) else [resources]:
                    found.add((action, flatten(resource), condition))
    return found


def stack_of(*protected: bool, region: str | None = None) -> cdk.Stack:
    stack = cdk.Stack(
        cdk.App(), "Lookups", env=cdk.Environment(account=ACCOUNT, region="eu-west-1")
    )
    for index, protect in enumerate(protected):
        LatestImageBuild(
            stack,
            f"Lookup{index}",
            image_name=f"golden-{index}",
            protect_pinned_build=protect,
            region=region,
        )
    return stack


def test_no_tagging_rights_without_protection() -> None:
    actions = {action for action, _, _ in grants(stack_of(False, False))}
    # ec2:DescribeImages stays: a rollback to a deleted build finds its AMI by tag
    assert not actions & ({*TAGGING, *AMI_ACTIONS} - {"ec2:DescribeImages"})


def test_protection_grants_tagging_of_own_builds_and_amis_with_our_keys_only() -> None:
    found = grants(stack_of(False, True, True))
    builds = f"arn:<AWS::Partition>:imagebuilder:eu-west-1:{ACCOUNT}:image/*"
    amis = "arn:<AWS::Partition>:ec2:*::image/*"
    condition = json.dumps(OUR_KEYS_ONLY, sort_keys=True)
    protection = {g for g in found if g[0] in (*TAGGING, *AMI_ACTIONS)}
    assert protection == {
        ("imagebuilder:TagResource", builds, condition),
        ("imagebuilder:UntagResource", builds, condition),
        ("ec2:CreateTags", amis, condition),
        ("ec2:DeleteTags", amis, condition),
        # DescribeImages has no resource type (Service Authorization Reference, EC2)
        ("ec2:DescribeImages", "*", "null"),
    }
    # release reads the build (GetImage) it tags
    assert ("imagebuilder:GetImage", builds, "null") in found


def test_protection_of_an_image_in_another_region_tags_builds_there() -> None:
    found = grants(stack_of(True, region="us-west-2"))
    builds = f"arn:<AWS::Partition>:imagebuilder:us-west-2:{ACCOUNT}:image/*"
    assert {(a, r) for a, r, _ in found if a in TAGGING} == {(a, builds) for a in TAGGING}


def lifecycle_stack(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "Lifecycle", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    LatestImageBuild(stack, "Golden", image_name="golden-al2023", protect_pinned_build=True)
    role = iam.Role(
        stack, "LifecycleRole", assumed_by=iam.ServicePrincipal("imagebuilder.amazonaws.com")
    )
    for resource_type in ("AMI_IMAGE", "CONTAINER_IMAGE"):
        imagebuilder.CfnLifecyclePolicy(
            stack,
            f"Keep{resource_type}",
            name=f"keep-pinned-{resource_type.lower().replace('_', '-')}",
            execution_role=role.role_arn,
            resource_type=resource_type,
            policy_details=[
                imagebuilder.CfnLifecyclePolicy.PolicyDetailProperty(
                    action=imagebuilder.CfnLifecyclePolicy.ActionProperty(type="DELETE"),
                    filter=imagebuilder.CfnLifecyclePolicy.FilterProperty(type="COUNT", value=5),
                    exclusion_rules=LatestImageBuild.lifecycle_exclusion_rules(resource_type),
                )
            ],
            resource_selection=imagebuilder.CfnLifecyclePolicy.ResourceSelectionProperty(
                tag_map={"team": "platform"}
            ),
        )
    return stack


def test_exclusion_rules_keep_protected_builds_and_amis(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path), context=cdk_json_context())
    lifecycle_stack(app)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    assembly = app.synth()  # cdk-nag raises on any unacknowledged finding
    stack = assembly.get_stack_by_name("Lifecycle")
    policies = {
        resource["Properties"]["ResourceType"]: resource["Properties"]["PolicyDetails"][0]
        for resource in stack.template["Resources"].values()
        if resource["Type"] == "AWS::ImageBuilder::LifecyclePolicy"
    }
    marker = {"latest-image-build:protected": "true"}
    assert policies["AMI_IMAGE"]["ExclusionRules"] == {"TagMap": marker, "Amis": {"TagMap": marker}}
    assert policies["CONTAINER_IMAGE"]["ExclusionRules"] == {"TagMap": marker}
    # the AWS::ImageBuilder::LifecyclePolicy resource schema (as cfn-lint ships it) accepts it
    matches = lint_file(Path(stack.template_full_path), config=ManualArgs(regions=["us-east-1"]))
    assert [str(match) for match in matches] == []


def test_exclusion_rules_name_a_resource_type() -> None:
    with pytest.raises(ValueError, match="invalid resource_type 'AMI'"):
        LatestImageBuild.lifecycle_exclusion_rules("AMI")
