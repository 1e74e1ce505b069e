"""The pin where users need it: EC2 machine images, ECS images, the L2 module, SSM."""

from __future__ import annotations

import re
import sys
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Template

from constructs_lib import ImageType, LatestImageBuild

pytestmark = pytest.mark.synth


def new_stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Consumers")


def lookup_properties(template: Template, logical_prefix: str) -> dict[str, Any]:
    resources = template.find_resources("Custom::LatestImageBuild")
    key = next(k for k in resources if k.startswith(logical_prefix))
    properties: dict[str, Any] = resources[key]["Properties"]
    return properties


def ami_of(template: Template, logical_prefix: str) -> dict[str, Any]:
    key = next(
        k
        for k in template.find_resources("Custom::LatestImageBuild")
        if k.startswith(logical_prefix)
    )
    return {"Fn::GetAtt": [key, "AmiId"]}


def test_machine_image_in_a_launch_template() -> None:
    stack = new_stack()
    golden = LatestImageBuild(stack, "Golden", image_name="golden", platform="Windows")
    image = golden.machine_image()
    ec2.LaunchTemplate(stack, "Template", machine_image=image)
    config = image.get_image(stack)
    assert config.os_type == ec2.OperatingSystemType.WINDOWS
    assert "<powershell>" in config.user_data.render()  # aws-cdk-lib's Windows default
    template = Template.from_stack(stack)
    data = next(iter(template.find_resources("AWS::EC2::LaunchTemplate").values()))
    assert data["Properties"]["LaunchTemplateData"]["ImageId"] == ami_of(template, "Golden")
    assert lookup_properties(template, "Golden")["RequireAmi"] == "true"


def test_machine_image_os_type_and_user_data_when_platform_is_unknown() -> None:
    stack = new_stack()
    golden = LatestImageBuild(stack, "Golden", image_name="golden")
    with pytest.raises(ValueError, match=re.escape("needs os_type=ec2.OperatingSystemType")):
        golden.machine_image()
    user_data = ec2.UserData.for_linux()
    user_data.add_commands("echo pinned")
    config = golden.machine_image(
        os_type=ec2.OperatingSystemType.LINUX, user_data=user_data
    ).get_image(stack)
    assert config.os_type == ec2.OperatingSystemType.LINUX
    assert "echo pinned" in config.user_data.render()


def test_machine_image_os_type_must_agree_with_platform() -> None:
    golden = LatestImageBuild(new_stack(), "Golden", image_name="golden", platform="Linux")
    with pytest.raises(ValueError, match="contradicts platform='Linux'"):
        golden.machine_image(os_type=ec2.OperatingSystemType.WINDOWS)


def test_lookups_that_feed_no_ami_do_not_require_one() -> None:
    stack = new_stack()
    LatestImageBuild(stack, "Golden", image_name="golden")
    assert "RequireAmi" not in lookup_properties(Template.from_stack(stack), "Golden")


def test_publish_parameter() -> None:
    stack = new_stack()
    golden = LatestImageBuild(stack, "Golden", image_name="golden")
    parameter = golden.publish_parameter("/golden/prod/ami", description="prod AMI")
    golden.publish_parameter("/golden/other/ami")
    template = Template.from_stack(stack)
    parameters = template.find_resources("AWS::SSM::Parameter")
    assert len(parameters) == 2
    properties = parameters[stack.get_logical_id(parameter.node.default_child)]["Properties"]  # type: ignore[arg-type]
    assert properties == {
        "DataType": "aws:ec2:image",
        "Description": "prod AMI",
        "Name": "/golden/prod/ami",
        "Type": "String",
        "Value": ami_of(template, "Golden"),
    }
    assert lookup_properties(template, "Golden")["RequireAmi"] == "true"


def test_container_image_in_a_task_with_the_pull_grant() -> None:
    stack = new_stack()
    service = LatestImageBuild(stack, "Service", image_name="service", image_type=ImageType.DOCKER)
    task = ecs.FargateTaskDefinition(stack, "Task")
    task.add_container("app", image=service.container_image())
    template = Template.from_stack(stack)
    lookup_id = next(iter(template.find_resources("Custom::LatestImageBuild")))
    container = next(iter(template.find_resources("AWS::ECS::TaskDefinition").values()))
    definition = container["Properties"]["ContainerDefinitions"][0]
    assert definition["Image"] == {"Fn::GetAtt": [lookup_id, "ContainerImageUri"]}
    statements = [
        (
            statement,
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"],
        )
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    ecr = [
        (statement, actions) for statement, actions in statements if actions[0].startswith("ecr:")
    ]
    actions = {action for _, acts in ecr for action in acts}
    assert actions == {
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
    }
    token, _ = next((s, a) for s, a in ecr if a == ["ecr:GetAuthorizationToken"])
    assert token["Resource"] == "*"  # the action has no resource type
    pull, _ = next((s, a) for s, a in ecr if a != ["ecr:GetAuthorizationToken"])
    # scoped to the registry (account, region) the pinned URI names, not to every account
    assert "ContainerImageUri" in str(pull["Resource"]) and ":repository/*" in str(pull["Resource"])
    # the execution role is what pulls
    execution_role = container["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    pulling_policies = [
        policy
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if "ecr:BatchGetImage" in str(policy)
    ]
    assert [p["Properties"]["Roles"] for p in pulling_policies] == [[{"Ref": execution_role}]]


@pytest.mark.parametrize(
    ("image_type", "call", "message"),
    [
        (
            "DOCKER",
            lambda lookup: lookup.machine_image(os_type=ec2.OperatingSystemType.LINUX),
            "machine_image() needs image_type 'AMI'",
        ),
        (
            "DOCKER",
            lambda lookup: lookup.publish_parameter("/p"),
            "publish_parameter() needs image_type 'AMI'",
        ),
        ("DOCKER", lambda lookup: lookup.to_base_image(), "to_base_image() needs image_type 'AMI'"),
        (
            "AMI",
            lambda lookup: lookup.container_image(),
            "container_image() needs image_type 'DOCKER'",
        ),
        (
            "AMI",
            lambda lookup: lookup.to_container_base_image(),
            "to_container_base_image() needs image_type 'DOCKER'",
        ),
    ],
)
def test_the_wrong_image_type_raises_at_synth(image_type: str, call: Any, message: str) -> None:
    lookup = LatestImageBuild(new_stack(), "Lookup", image_name="golden", image_type=image_type)
    with pytest.raises(ValueError, match=re.escape(message)):
        call(lookup)


def test_l2_recipes_from_the_alpha_module() -> None:
    from aws_cdk import aws_ecr as ecr
    from aws_cdk import aws_imagebuilder_alpha as alpha

    stack = new_stack()
    base = LatestImageBuild(stack, "Base", image_name="golden", image_type="AMI")
    box = LatestImageBuild(stack, "Box", image_name="box", image_type="DOCKER")
    alpha.ImageRecipe(stack, "Recipe", base_image=base.to_base_image())
    alpha.ContainerRecipe(
        stack,
        "ContainerRecipe",
        base_image=box.to_container_base_image(),
        target_repository=alpha.Repository.from_ecr(ecr.Repository(stack, "Repo")),
        os_version=alpha.OSVersion.AMAZON_LINUX_2023,
    )
    template = Template.from_stack(stack)
    recipe = next(iter(template.find_resources("AWS::ImageBuilder::ImageRecipe").values()))
    base_id = next(
        k for k in template.find_resources("Custom::LatestImageBuild") if k.startswith("Base")
    )
    assert recipe["Properties"]["ParentImage"] == {"Fn::GetAtt": [base_id, "ImageBuildVersionArn"]}
    container = next(iter(template.find_resources("AWS::ImageBuilder::ContainerRecipe").values()))
    box_id = next(
        k for k in template.find_resources("Custom::LatestImageBuild") if k.startswith("Box")
    )
    assert container["Properties"]["ParentImage"] == {
        "Fn::GetAtt": [box_id, "ImageBuildVersionArn"]
    }


def test_without_the_alpha_extra_only_the_l2_methods_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import aws_cdk.aws_imagebuilder_alpha` raise ImportError,
    # as on a machine without the [alpha] extra
    monkeypatch.setitem(sys.modules, "aws_cdk.aws_imagebuilder_alpha", None)
    stack = new_stack()
    lookup = LatestImageBuild(stack, "Lookup", image_name="golden", platform="Linux")
    lookup.machine_image()  # everything else keeps working
    for method in (lookup.to_base_image, lookup.to_container_base_image):
        with pytest.raises(
            ImportError, match=re.escape("pip install aws-cdk.aws-imagebuilder-alpha (")
        ):
            method()
