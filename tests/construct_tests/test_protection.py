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
from constructs_lib.image_factory import ImageFactory
from tests.support.synth import cdk_json_context

pytestmark = pytest.mark.synth

ACCOUNT = "111122223333"
FACTORY = "444455556666"
TAGGING = ("imagebuilder:TagResource", "imagebuilder:UntagResource")
AMI_TAGGING = ("ec2:CreateTags", "ec2:DeleteTags")
#: Only the library's keys, and at least one key: ``ForAllValues`` alone is true for a
#: request without tags (IAM User Guide, "Single-valued vs. multivalued context keys"),
#: and DeleteTags without ``Tags`` deletes every tag (EC2 API reference, DeleteTags).
OUR_KEYS_ONLY = {
    "ForAllValues:StringLike": {"aws:TagKeys": ["latest-image-build:*"]},
    "Null": {"aws:TagKeys": "false"},
}


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


def stack_of(*protected: bool, **props: Any) -> cdk.Stack:
    stack = cdk.Stack(
        cdk.App(), "Lookups", env=cdk.Environment(account=ACCOUNT, region="eu-west-1")
    )
    for index, protect in enumerate(protected):
        LatestImageBuild(
            stack,
            f"Lookup{index}",
            image_name=f"golden-{index}",
            protect_pinned_build=protect,
            **props,
        )
    return stack


def renewal_inputs(stack: cdk.Stack) -> list[Any]:
    rules = Template.from_stack(stack).find_resources("AWS::Events::Rule")
    return [
        target["Input"]
        for rule in rules.values()
        for target in rule["Properties"].get("Targets", [])
        if "renew-pins" in json.dumps(target.get("Input"))
    ]


def test_no_protection_no_reports_and_no_renewal() -> None:
    stack = stack_of(False, False)
    actions = {action for action, _, _ in grants(stack)}
    assert not actions & {*TAGGING, *AMI_TAGGING, "events:PutEvents"}
    assert "cloudformation:ListStackResources" not in actions
    assert renewal_inputs(stack) == []


def test_a_protected_lookup_may_only_report_to_its_registry_and_tags_nothing() -> None:
    found = grants(stack_of(False, True, True))
    bus = f"arn:<AWS::Partition>:events:eu-west-1:{ACCOUNT}:event-bus/latest-image-build-pins"
    assert {g for g in found if g[0] == "events:PutEvents"} == {("events:PutEvents", bus, "null")}
    assert ("cloudformation:ListStackResources", "<AWS::StackId>", "null") in found
    # the registry tags, in the image owner's account; the lookup's role cannot
    assert not {a for a, _, _ in found} & {*TAGGING, *AMI_TAGGING}


def test_a_shared_image_reports_to_the_factorys_registry_in_the_images_region() -> None:
    found = grants(stack_of(True, owner="Shared", image_account=FACTORY, region="us-west-2"))
    bus = f"arn:<AWS::Partition>:events:us-west-2:{FACTORY}:event-bus/latest-image-build-pins"
    assert {r for a, r, _ in found if a == "events:PutEvents"} == {bus}


def test_renewal_rules_name_at_most_25_lookups_each_and_every_lookup_once() -> None:
    """A rule target's Input holds at most 8,192 characters (EventBridge API reference,
    Target.Input); a CloudFormation logical id may be 255 characters long."""
    stack = stack_of(*([True] * 60))
    inputs = renewal_inputs(stack)
    named = [json.loads(flatten(i).replace("<AWS::StackId>", "S"))["lookups"] for i in inputs]
    assert [len(lookups) for lookups in named] == [25, 25, 10]
    assert len({lookup for lookups in named for lookup in lookups}) == 60
    # the frame (keys, and a stack id of up to 256 characters) and 25 ids of 255 fit
    for rendered, lookups in zip(inputs, named, strict=True):
        frame = len(flatten(rendered)) - sum(len(f'"{lookup}",') for lookup in lookups)
        assert frame + 256 + 25 * len(f'"{"L" * 255}",') < 8192


def test_the_daily_renewal_names_exactly_the_protected_lookups() -> None:
    stack = stack_of(True, False, True)
    (renewal,) = renewal_inputs(stack)
    text = flatten(renewal)
    payload = json.loads(text.replace("<AWS::StackId>", "STACK"))
    logical_ids = [
        stack.resolve(stack.node.find_child(f"Lookup{n}").resource.node.default_child.logical_id)  # type: ignore[attr-defined]
        for n in (0, 2)
    ]
    assert payload == {
        "latest-image-build": "renew-pins",
        "stackId": "STACK",
        "lookups": logical_ids,
    }


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"owner": "Amazon"}, "only the account that owns an image can keep it"),
        ({"owner": "AWSMarketplace", "image_account": FACTORY}, "owner='AWSMarketplace'"),
        ({"owner": "Shared"}, "needs image_account=<the image factory's account>"),
    ],
)
def test_protection_that_cannot_work_fails_at_synth_and_leaves_nothing(
    props: dict[str, Any], message: str
) -> None:
    stack = cdk.Stack(
        cdk.App(), "Lookups", env=cdk.Environment(account=ACCOUNT, region="eu-west-1")
    )
    with pytest.raises(ValueError, match=message):
        LatestImageBuild(stack, "Golden", image_name="golden", protect_pinned_build=True, **props)
    assert stack.node.try_find_child("Golden") is None


def factory_stack(**props: Any) -> cdk.Stack:
    stack = cdk.Stack(
        cdk.App(), "Factory", env=cdk.Environment(account=FACTORY, region="us-east-1")
    )
    ImageFactory(stack, "Factory", organization_id="o-a1b2c3d4e5", **props)
    return stack


def test_the_factorys_bus_takes_pin_reports_from_the_organization_only() -> None:
    (bus,) = Template.from_stack(factory_stack()).find_resources("AWS::Events::EventBus").values()
    (statement,) = bus["Properties"]["Policy"]["Statement"]
    assert statement["Action"] == "events:PutEvents" and statement["Principal"] == "*"
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:PrincipalOrgID": "o-a1b2c3d4e5",
            "events:source": "latest-image-build.pins",
        }
    }


def test_every_tag_statement_of_the_registry_names_our_keys_and_needs_one() -> None:
    found = grants(factory_stack(distribution_regions=["us-east-1", "eu-west-1"]))
    condition = json.dumps(OUR_KEYS_ONLY, sort_keys=True)
    builds = f"arn:<AWS::Partition>:imagebuilder:us-east-1:{FACTORY}:image/*"
    assert {g for g in found if g[0] in (*TAGGING, *AMI_TAGGING)} == {
        *((action, builds, condition) for action in TAGGING),
        *(
            (action, f"arn:<AWS::Partition>:ec2:{region}::image/*", condition)
            for action in AMI_TAGGING
            for region in ("us-east-1", "eu-west-1")
        ),
    }


def test_without_distribution_regions_the_registry_tags_its_amis_in_any_region() -> None:
    found = grants(factory_stack())
    assert {r for a, r, _ in found if a == "ec2:CreateTags"} == {
        "arn:<AWS::Partition>:ec2:*::image/*"
    }


def test_the_factory_forwards_its_build_events_to_workload_accounts_when_asked() -> None:
    template = Template.from_stack(
        factory_stack(workload_accounts=["210987654321"], distribution_regions=["eu-west-1"])
    )
    targets = [
        flatten(target["Arn"])
        for rule in template.find_resources("AWS::Events::Rule").values()
        for target in rule["Properties"].get("Targets", [])
    ]
    assert "arn:<AWS::Partition>:events:eu-west-1:210987654321:event-bus/default" in targets
    # without workload accounts, no forwarding
    plain = factory_stack()
    factory = plain.node.find_child("Factory")
    assert isinstance(factory, ImageFactory) and factory.events is None
    assert "event-bus/default" not in json.dumps(Template.from_stack(plain).to_json())


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"organization_id": "r-a1b2"}, "organization_id 'r-a1b2' is not an AWS Organizations id"),
        (
            {"organization_id": "o-a1b2c3d4e5", "distribution_regions": ["eu-west-1", "Europe"]},
            "distribution_regions holds 'Europe'",
        ),
        (
            {"organization_id": "o-a1b2c3d4e5", "distribution_regions": "eu-west-1"},
            "must be a non-empty list",
        ),
        (
            {"organization_id": "o-a1b2c3d4e5", "holder_lease": cdk.Duration.hours(12)},
            "holder_lease 12 hours is too short",
        ),
        (
            {"organization_id": "o-a1b2c3d4e5", "workload_accounts": ["12345"]},
            "'12345'",
        ),
    ],
)
def test_bad_factory_props_fail_in_one_line_and_leave_nothing(
    props: dict[str, Any], message: str
) -> None:
    stack = cdk.Stack(cdk.App(), "Factory")
    with pytest.raises(ValueError, match=message) as failure:
        ImageFactory(stack, "Factory", **props)
    assert "\n" not in str(failure.value)
    assert stack.node.try_find_child("Factory") is None


def lifecycle_stack(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "Lifecycle", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    ImageFactory(stack, "Factory", organization_id="o-a1b2c3d4e5")
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
                    exclusion_rules=ImageFactory.lifecycle_exclusion_rules(resource_type),
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
    assert LatestImageBuild.lifecycle_exclusion_rules() == ImageFactory.lifecycle_exclusion_rules()
    # the AWS::ImageBuilder::LifecyclePolicy resource schema (as cfn-lint ships it) accepts it
    matches = lint_file(Path(stack.template_full_path), config=ManualArgs(regions=["us-east-1"]))
    assert [str(match) for match in matches] == []


def test_exclusion_rules_name_a_resource_type() -> None:
    with pytest.raises(ValueError, match="invalid resource_type 'AMI'"):
        LatestImageBuild.lifecycle_exclusion_rules("AMI")
