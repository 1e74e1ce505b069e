"""Day-two wiring in the template: rollback reads, image accounts, container checks, owners."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Template

from constructs_lib import ImageOwner, ImageType, LatestImageBuild

pytestmark = pytest.mark.synth


def template_of(**props: Any) -> Template:
    stack = cdk.Stack(
        cdk.App(), "DayTwo", env=cdk.Environment(account="123456789012", region="eu-west-1")
    )
    LatestImageBuild(stack, "Lookup", **{"image_name": "golden", **props})
    return Template.from_stack(stack)


def statements(template: Template) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def test_rollback_reads_are_granted_on_this_stack_only() -> None:
    reads = [
        statement
        for statement in statements(template_of())
        if "cloudformation:DescribeStackEvents" in statement["Action"]
    ]
    assert reads == [
        {
            "Action": ["cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents"],
            "Effect": "Allow",
            "Resource": {"Ref": "AWS::StackId"},
        }
    ]


def test_image_account_scopes_the_image_reads_and_reaches_the_handler() -> None:
    template = template_of(owner=ImageOwner.SHARED, image_account="111111111111")
    template.has_resource_properties(
        "Custom::LatestImageBuild", {"Owner": "Shared", "ImageAccount": "111111111111"}
    )
    get_image = [s for s in statements(template) if s["Action"] == "imagebuilder:GetImage"]
    assert len(get_image) == 1
    assert ":111111111111:image/*" in str(get_image[0]["Resource"])


def test_owner_strings_are_case_insensitive_and_written_as_the_api_spells_them() -> None:
    template = template_of(owner="amazon")
    template.has_resource_properties("Custom::LatestImageBuild", {"Owner": "Amazon"})
    get_image = [s for s in statements(template) if s["Action"] == "imagebuilder:GetImage"]
    # a known owner: the grant names Amazon's account, not any account
    assert ":aws:image/*" in str(get_image[0]["Resource"])


@pytest.mark.parametrize("region", ["eusc-de-east-1", "us-isob-east-1", "cn-northwest-1"])
def test_regions_of_every_partition_pass_synth(region: str) -> None:
    template_of(region=region).has_resource_properties(
        "Custom::LatestImageBuild", {"Region": region}
    )


def test_container_image_makes_the_lookup_require_a_container_here() -> None:
    stack = cdk.Stack(cdk.App(), "Containers")
    base = LatestImageBuild(stack, "Lookup", image_name="golden", image_type=ImageType.DOCKER)
    task = ecs.FargateTaskDefinition(stack, "Task")
    task.add_container("App", image=base.container_image())
    Template.from_stack(stack).has_resource_properties(
        "Custom::LatestImageBuild", {"RequireContainer": "true", "ImageType": "DOCKER"}
    )


def test_protect_pinned_build_reaches_the_handler() -> None:
    template_of(protect_pinned_build=True).has_resource_properties(
        "Custom::LatestImageBuild", {"ProtectPinnedBuild": "true"}
    )
