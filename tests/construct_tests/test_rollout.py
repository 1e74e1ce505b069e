"""Rolling the pin out (and back) on an Auto Scaling group, and the synth-time rollout warnings.

AWS behaviour these tests rely on, where it is documented:

* CloudFormation's ``AutoScalingInstanceRefresh`` update policy starts an instance refresh when
  a group's ``LaunchTemplate`` changes, and is exclusive with ``AutoScalingRollingUpdate``
  (CloudFormation Template Reference, "UpdatePolicy attribute",
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatepolicy.html#cfn-attributes-updatepolicy-instancerefresh;
  cfn-lint's ``update_policy.json`` schema, ``dependentExcluded``); on a rollback CloudFormation
  uses the update policy of the template it rolls back to (aws-cdk-lib 2.275 ``aws_autoscaling``
  README, "Instance refresh").
* A rollback is not supported when the launch template's ``ImageId`` is a Systems Manager
  parameter, or the group uses the template's ``$Latest`` or ``$Default`` version (Auto Scaling
  API Reference, ``RefreshPreferences.AutoRollback`` and ``RollbackInstanceRefresh``,
  https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html;
  User Guide, "Undo changes with a manual or auto rollback").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Annotations, Match
from aws_cdk.cx_api import CloudAssembly
from cfnlint.api import ManualArgs, lint_file

from app import build_app
from constructs_lib import LatestImageBuild
from constructs_lib.rollout_checks import FLOATING_VERSION_WARNING, SSM_PARAMETER_WARNING
from tests.support.synth import cdk_json_context

pytestmark = pytest.mark.synth

STACK = "GoldenRollout"
PARAMETER = "/golden/prod/ami"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    outdir = tmp_path_factory.mktemp("rollout")
    return build_app(outdir=str(outdir), context=cdk_json_context()).synth()


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def only(resources: dict[str, Any]) -> tuple[str, Any]:
    ((logical_id, resource),) = resources.items()
    return logical_id, resource


def test_a_new_pin_reaches_the_group_through_a_numbered_template_version(
    example: CloudAssembly,
) -> None:
    template = example.get_stack_by_name(STACK).template
    lookup_id, lookup = only(resources_of(template, "Custom::LatestImageBuild"))
    template_id, launch_template = only(resources_of(template, "AWS::EC2::LaunchTemplate"))
    _, group = only(resources_of(template, "AWS::AutoScaling::AutoScalingGroup"))
    # the AMI itself, so a new pin is a new launch template version
    image = launch_template["Properties"]["LaunchTemplateData"]["ImageId"]
    assert image == {"Fn::GetAtt": [lookup_id, "AmiId"]}
    assert lookup["Properties"]["RequireAmi"] == "true"  # no AMI in the region fails the lookup
    # ... and that version is a property of the group, so CloudFormation updates the group
    assert group["Properties"]["LaunchTemplate"] == {
        "LaunchTemplateId": {"Ref": template_id},
        "Version": {"Fn::GetAtt": [template_id, "LatestVersionNumber"]},
    }


def test_the_group_is_refreshed_in_steps_watched_by_an_alarm(example: CloudAssembly) -> None:
    template = example.get_stack_by_name(STACK).template
    alarm_id, alarm = only(resources_of(template, "AWS::CloudWatch::Alarm"))
    _, group = only(resources_of(template, "AWS::AutoScaling::AutoScalingGroup"))
    policy = group["UpdatePolicy"]
    assert "AutoScalingRollingUpdate" not in policy  # CloudFormation allows one or the other
    refresh = policy["AutoScalingInstanceRefresh"]
    assert refresh["Strategy"] == "Rolling"
    preferences = refresh["Preferences"]
    assert preferences["AlarmSpecification"] == {"Alarms": [{"Ref": alarm_id}]}
    assert preferences["CheckpointPercentages"][-1] == 100  # the last step replaces them all
    assert preferences["CheckpointDelay"] > 0 and preferences["BakeTime"] > 0
    assert preferences["MinHealthyPercentage"] == 100  # launch before terminate
    # the alarm watches this group's instances (named without a reference to the group,
    # which refers to the alarm: a reference both ways would be a circular dependency)
    (dimension,) = alarm["Properties"]["Dimensions"]
    assert dimension["Name"] == "AutoScalingGroupName"
    assert dimension["Value"] == group["Properties"]["AutoScalingGroupName"]


def test_the_example_has_no_rollout_warning_and_passes_cdk_nag(example: CloudAssembly) -> None:
    stack = example.get_stack_by_name(STACK)
    assert [entry.data for entry in stack.find_metadata_by_type("aws:cdk:warning")] == []
    report = json.loads((Path(example.directory) / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions" and plugin["violations"] == []
    ours = {
        finding["ruleName"]: finding["reason"]
        for finding in plugin["suppressedViolations"]
        for construct in finding["violatingConstructs"]
        if construct["constructPath"].startswith(f"{STACK}/AppGroup")
    }
    assert list(ours) == ["AwsSolutions-AS3"] and "alarm" in ours["AwsSolutions-AS3"]


def test_cfn_lint_finds_nothing_in_the_example(example: CloudAssembly) -> None:
    path = Path(example.get_stack_by_name(STACK).template_full_path)
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [str(match) for match in matches] == []


# Ways the pin can reach an Auto Scaling group. Each builds a launch template (and group)
# in ``stack`` from the lookup ``golden``, whose AMI is also published as PARAMETER.
Wiring = Callable[[cdk.Stack, LatestImageBuild], None]


def l1_group(stack: cdk.Stack, template: ec2.LaunchTemplate, version: str) -> None:
    autoscaling.CfnAutoScalingGroup(
        stack,
        "Group",
        min_size="1",
        max_size="2",
        availability_zones=cdk.Fn.get_azs(),
        launch_template=autoscaling.CfnAutoScalingGroup.LaunchTemplateSpecificationProperty(
            launch_template_id=template.launch_template_id, version=version
        ),
    )


def launch_template(stack: cdk.Stack, image: ec2.IMachineImage) -> ec2.LaunchTemplate:
    return ec2.LaunchTemplate(
        stack,
        "Template",
        machine_image=image,
        instance_type=ec2.InstanceType("t3.small"),
        require_imdsv2=True,
    )


def resolve_ssm_at_launch(stack: cdk.Stack, golden: LatestImageBuild) -> None:
    parameter = golden.publish_parameter(PARAMETER)
    image = ec2.MachineImage.resolve_ssm_parameter_at_launch(parameter.parameter_name)
    template = launch_template(stack, image)
    l1_group(stack, template, template.latest_version_number)


def resolve_ssm_by_name_and_version(stack: cdk.Stack, golden: LatestImageBuild) -> None:
    golden.publish_parameter(PARAMETER)
    image = ec2.MachineImage.resolve_ssm_parameter_at_launch(PARAMETER, parameter_version="3")
    template = launch_template(stack, image)
    l1_group(stack, template, template.latest_version_number)


def ssm_parameter_read_by_cloudformation(stack: cdk.Stack, golden: LatestImageBuild) -> None:
    golden.publish_parameter(PARAMETER)
    template = launch_template(stack, ec2.MachineImage.from_ssm_parameter(PARAMETER))
    l1_group(stack, template, template.latest_version_number)


def latest_version(stack: cdk.Stack, golden: LatestImageBuild) -> None:
    template = launch_template(stack, golden.machine_image())
    l1_group(stack, template, "$Latest")


def default_version_through_l2_group(stack: cdk.Stack, golden: LatestImageBuild) -> None:
    """aws-cdk-lib's own group, on a template imported (by id) at its ``$Default`` version."""
    template = launch_template(stack, golden.machine_image())
    floating = ec2.LaunchTemplate.from_launch_template_attributes(
        stack,
        "Floating",
        launch_template_id=template.launch_template_id,
        version_number="$Default",
    )
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0, restrict_default_security_group=False)
    autoscaling.AutoScalingGroup(stack, "L2Group", vpc=vpc, launch_template=floating)


def mixed_instances_at_latest(stack: cdk.Stack, golden: LatestImageBuild) -> None:
    template = launch_template(stack, golden.machine_image())
    group = autoscaling.CfnAutoScalingGroup
    group(
        stack,
        "Group",
        min_size="1",
        max_size="2",
        availability_zones=cdk.Fn.get_azs(),
        mixed_instances_policy=group.MixedInstancesPolicyProperty(
            launch_template=group.LaunchTemplateProperty(
                launch_template_specification=group.LaunchTemplateSpecificationProperty(
                    launch_template_id=template.launch_template_id, version="$Latest"
                )
            )
        ),
    )


def safe_numbered_version(stack: cdk.Stack, golden: LatestImageBuild) -> None:
    golden.publish_parameter(PARAMETER)  # published for other readers; the group does not use it
    template = launch_template(stack, golden.machine_image())
    l1_group(stack, template, template.latest_version_number)


def another_parameter_at_launch(stack: cdk.Stack, golden: LatestImageBuild) -> None:
    golden.publish_parameter(PARAMETER)
    image = ec2.MachineImage.resolve_ssm_parameter_at_launch("/someone/elses/ami")
    template = launch_template(stack, image)
    l1_group(stack, template, template.latest_version_number)


def another_image_at_latest(stack: cdk.Stack, golden: LatestImageBuild) -> None:
    template = launch_template(
        stack, ec2.MachineImage.generic_linux({"us-east-1": "ami-0123456789abcdef0"})
    )
    l1_group(stack, template, "$Latest")


def warnings_of(wiring: Wiring, tmp_path: Path, acknowledge: str | None = None) -> list[str]:
    app = cdk.App(outdir=str(tmp_path), context=cdk_json_context())
    stack = cdk.Stack(
        app, "Consumer", env=cdk.Environment(account="123456789012", region="us-east-1")
    )
    golden = LatestImageBuild(stack, "Golden", image_name="golden-al2023", platform="Linux")
    wiring(stack, golden)
    if acknowledge is not None:
        Validations.of(stack).acknowledge(
            Acknowledgment(id=f"annotation::{acknowledge}", reason="the group is replaced by hand")
        )
    found = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("pin of"))
    return [str(message.entry.data) for message in found]


@pytest.mark.parametrize(
    ("wiring", "warning_id", "says"),
    [
        (resolve_ssm_at_launch, SSM_PARAMETER_WARNING, "cannot roll back"),
        (resolve_ssm_by_name_and_version, SSM_PARAMETER_WARNING, f"parameter {PARAMETER} "),
        (ssm_parameter_read_by_cloudformation, SSM_PARAMETER_WARNING, "one pin behind"),
        (latest_version, FLOATING_VERSION_WARNING, "version $Latest"),
        (default_version_through_l2_group, FLOATING_VERSION_WARNING, "version $Default"),
        (mixed_instances_at_latest, FLOATING_VERSION_WARNING, "version $Latest"),
    ],
)
def test_a_pin_that_cannot_roll_back_warns_at_synth(
    wiring: Wiring, warning_id: str, says: str, tmp_path: Path
) -> None:
    (warning,) = warnings_of(wiring, tmp_path)
    assert says in warning
    assert "Consumer/Golden" in warning and "Consumer/Template" in warning  # names both ends
    assert warning.endswith(f"[ack: Annotation::{warning_id}]")


@pytest.mark.parametrize(
    "wiring", [safe_numbered_version, another_parameter_at_launch, another_image_at_latest]
)
def test_no_warning_where_the_pin_can_roll_back_or_is_not_involved(
    wiring: Wiring, tmp_path: Path
) -> None:
    assert warnings_of(wiring, tmp_path) == []


def test_a_warning_can_be_acknowledged(tmp_path: Path) -> None:
    assert warnings_of(latest_version, tmp_path, acknowledge=FLOATING_VERSION_WARNING) == []
