"""The construct's template: resources, properties, wiring, IAM, logs, timeouts, refresh."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_imagebuilder as imagebuilder
from aws_cdk.assertions import Match, Template

from constructs_lib import ImageOwner, ImageType, LatestImageBuild
from constructs_lib.handler_asset import staged_lookup_asset

pytestmark = pytest.mark.synth


def stack_with_lookups(count: int, **props: Any) -> cdk.Stack:
    app = cdk.App()
    stack = cdk.Stack(app, "Lookups")
    for index in range(count):
        LatestImageBuild(stack, f"Lookup{index}", image_name=f"image-{index}", **props)
    return stack


def iam_statements(template: Template) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def flatten(value: Any) -> str:
    """A resolved ARN as text, with Refs shown as <Name>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    separator, parts = value["Fn::Join"]
    return str(separator).join(flatten(part) for part in parts)


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


@pytest.fixture(scope="module")
def one_lookup() -> Template:
    return Template.from_stack(stack_with_lookups(1))


@pytest.fixture(scope="module")
def thirty_lookups() -> Template:
    return Template.from_stack(stack_with_lookups(30))


RESOURCE_COUNTS_ONE = {
    "Custom::LatestImageBuild": 1,
    "AWS::Lambda::Function": 2,  # the handler and the provider framework's function
    "AWS::IAM::Role": 2,
    "AWS::IAM::Policy": 3,  # handler reads, handler logging, framework
    "AWS::Logs::LogGroup": 2,
}


def test_one_lookup_resources(one_lookup: Template) -> None:
    for resource_type, count in RESOURCE_COUNTS_ONE.items():
        one_lookup.resource_count_is(resource_type, count)
    assert len(one_lookup.to_json()["Resources"]) == sum(RESOURCE_COUNTS_ONE.values())


def test_thirty_lookups_share_one_handler_and_provider(thirty_lookups: Template) -> None:
    thirty_lookups.resource_count_is("Custom::LatestImageBuild", 30)
    for resource_type, count in RESOURCE_COUNTS_ONE.items():
        if resource_type != "Custom::LatestImageBuild":
            thirty_lookups.resource_count_is(resource_type, count)
    # identical grants are not repeated per lookup
    assert len(iam_statements(thirty_lookups)) == len(
        iam_statements(Template.from_stack(stack_with_lookups(1)))
    )


def test_properties_are_strings_and_optional_ones_only_when_set() -> None:
    stack = cdk.Stack(cdk.App(), "Props")
    LatestImageBuild(stack, "Minimal", image_name="golden", refresh_on_every_deploy=False)
    LatestImageBuild(
        stack,
        "Full",
        image_name="Amazon Linux 2023 x86",
        version="1.2.x",
        owner="Self",
        platform="Linux",
        os_version="Amazon Linux 2023",
        image_type=ImageType.AMI,
        include_deprecated=True,
        region="eu-west-1",
        image_account="111122223333",
        refresh_on_every_deploy=False,
        refresh_token="2026-11-27",
        protect_pinned_build=True,
    )
    resources = Template.from_stack(stack).find_resources("Custom::LatestImageBuild")
    by_name = {r["Properties"]["ImageName"]: r["Properties"] for r in resources.values()}
    minimal = dict(by_name["golden"])
    minimal.pop("ServiceToken")
    assert minimal == {
        "ImageName": "golden",
        "VersionSelector": "x.x.x",
        "Owner": "Self",
        "ServiceTimeout": "720",
    }
    full = by_name["Amazon Linux 2023 x86"]
    assert full["VersionSelector"] == "1.2.x"
    assert full["Owner"] == "Self"
    assert full["ImageAccount"] == "111122223333"
    assert full["ProtectPinnedBuild"] == "true"
    assert full["Platform"] == "Linux"
    assert full["OsVersion"] == "Amazon Linux 2023"
    assert full["ImageType"] == "AMI"
    assert full["IncludeDeprecated"] == "true"
    assert full["Region"] == "eu-west-1"
    assert full["RefreshToken"] == "2026-11-27"


def test_attributes_are_getatts_wired_into_a_recipe() -> None:
    stack = cdk.Stack(cdk.App(), "Wiring")
    base = LatestImageBuild(stack, "Base", image_name="golden", owner=ImageOwner.AMAZON)
    imagebuilder.CfnImageRecipe(
        stack,
        "Recipe",
        name="r",
        version=base.version,
        parent_image=base.image_build_version_arn,
        components=[
            imagebuilder.CfnImageRecipe.ComponentConfigurationProperty(component_arn="arn:c")
        ],
    )
    template = Template.from_stack(stack)
    logical_id = stack.get_logical_id(base.resource.node.default_child)  # type: ignore[arg-type]
    template.has_resource_properties(
        "AWS::ImageBuilder::ImageRecipe",
        {
            "ParentImage": {"Fn::GetAtt": [stack.resolve(logical_id), "ImageBuildVersionArn"]},
            "Version": {"Fn::GetAtt": [stack.resolve(logical_id), "Version"]},
        },
    )
    attributes = {
        "image_build_version_arn": "ImageBuildVersionArn",
        "image_version_arn": "ImageVersionArn",
        "version": "Version",
        "build_version": "BuildVersion",
        "ami_id": "AmiId",
        "container_image_uri": "ContainerImageUri",
        "platform": "Platform",
        "os_version": "OsVersion",
        "image_type": "ImageType",
        "date_created": "DateCreated",
    }
    for attribute, key in attributes.items():
        resolved = stack.resolve(getattr(base, attribute))
        assert resolved == {"Fn::GetAtt": [stack.resolve(logical_id), key]}


def test_iam_is_least_privilege(one_lookup: Template) -> None:
    statements = iam_statements(one_lookup)
    actions = [action for statement in statements for action in actions_of(statement)]
    assert "*" not in actions
    assert not any(action.endswith(":*") for action in actions)
    handler_statements = [
        s for s in statements if any(a.startswith("imagebuilder:") for a in actions_of(s))
    ]
    by_action = {actions_of(s)[0]: s["Resource"] for s in handler_statements}
    assert set(by_action) == {"imagebuilder:ListImages", "imagebuilder:GetImage"}
    assert by_action["imagebuilder:ListImages"] == "*"
    assert by_action["imagebuilder:GetImage"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":imagebuilder:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":image/*",
            ],
        ]
    }


def test_iam_follows_owner_region_and_deprecated_option() -> None:
    account = "111122223333"
    stack = cdk.Stack(cdk.App(), "Owners", env=cdk.Environment(account=account, region="eu-west-1"))
    LatestImageBuild(
        stack, "Amazon", image_name="al2023", owner=ImageOwner.AMAZON, region="us-east-1"
    )
    LatestImageBuild(stack, "Own", image_name="golden", include_deprecated=True)
    LatestImageBuild(stack, "Shared", image_name="partner", owner="Shared")
    grants = {
        (action, flatten(statement["Resource"]))
        for statement in iam_statements(Template.from_stack(stack))
        for action in actions_of(statement)
        if action.startswith("imagebuilder:")
    }
    assert grants == {
        ("imagebuilder:ListImages", "*"),
        ("imagebuilder:GetImage", "arn:<AWS::Partition>:imagebuilder:us-east-1:aws:image/*"),
        ("imagebuilder:GetImage", f"arn:<AWS::Partition>:imagebuilder:eu-west-1:{account}:image/*"),
        (
            "imagebuilder:ListImageBuildVersions",
            f"arn:<AWS::Partition>:imagebuilder:eu-west-1:{account}:image/*",
        ),
        ("imagebuilder:GetImage", "arn:<AWS::Partition>:imagebuilder:eu-west-1:*:image/*"),
    }


def test_log_retention_and_timeouts(one_lookup: Template) -> None:
    for group in one_lookup.find_resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30
    functions = one_lookup.find_resources("AWS::Lambda::Function")
    handler = next(
        f
        for f in functions.values()
        if f["Properties"]["Handler"] == "image_lookup.handler.on_event"
    )
    # a rollback may take the whole timeout (README, Rollbacks): the Provider framework's
    # function, which waits for the answer, and CloudFormation must both wait longer
    assert handler["Properties"]["Timeout"] == 600
    framework = next(
        f for f in functions.values() if f["Properties"]["Handler"] == "framework.onEvent"
    )
    assert framework["Properties"]["Timeout"] > 600
    assert handler["Properties"]["Runtime"].startswith("python3.")
    handler_id = next(key for key, f in functions.items() if f is handler or f == handler)
    log_groups = one_lookup.find_resources("AWS::Logs::LogGroup")
    # Lambda's own name for the handler's group: the framework's "Logs:" pointer leads here
    named = [
        group
        for group in log_groups.values()
        if group["Properties"].get("LogGroupName")
        == {"Fn::Join": ["", ["/aws/lambda/", {"Ref": handler_id}]]}
    ]
    assert len(named) == 1
    for key, function in functions.items():
        if key != handler_id:
            assert "LoggingConfig" in function["Properties"]
    lookup = next(iter(one_lookup.find_resources("Custom::LatestImageBuild").values()))
    service_timeout = int(lookup["Properties"]["ServiceTimeout"])
    assert service_timeout <= 900  # minutes, not CloudFormation's one-hour default
    assert handler["Properties"]["Timeout"] < service_timeout


def test_default_refreshes_on_every_synth() -> None:
    tokens = {
        json.dumps(
            Template.from_stack(stack_with_lookups(1)).find_resources("Custom::LatestImageBuild")
        )
        for _ in range(2)
    }
    assert len(tokens) == 2
    props = next(
        iter(
            Template.from_stack(stack_with_lookups(1))
            .find_resources("Custom::LatestImageBuild")
            .values()
        )
    )
    assert props["Properties"]["RefreshToken"].isdigit()


def synth_template_text(tmp_path: Path, name: str, **props: Any) -> str:
    app = cdk.App(outdir=str(tmp_path / name))
    stack = cdk.Stack(app, "Pinned")
    LatestImageBuild(stack, "Lookup", image_name="golden", version="1.x.x", **props)
    assembly = app.synth()
    return Path(assembly.get_stack_by_name("Pinned").template_full_path).read_text()


def test_on_change_refresh_is_byte_identical_across_synths(tmp_path: Path) -> None:
    first = synth_template_text(tmp_path, "a", refresh_on_every_deploy=False)
    second = synth_template_text(tmp_path, "b", refresh_on_every_deploy=False)
    assert first == second
    assert "RefreshToken" not in first
    with_token = synth_template_text(
        tmp_path, "c", refresh_on_every_deploy=False, refresh_token="build-42"
    )
    assert '"RefreshToken": "build-42"' in with_token


def test_two_stacks_never_reference_each_other() -> None:
    app = cdk.App()
    first, second = cdk.Stack(app, "First"), cdk.Stack(app, "Second")
    LatestImageBuild(first, "Lookup", image_name="golden")
    LatestImageBuild(second, "Lookup", image_name="golden")
    for stack in (first, second):
        template = Template.from_stack(stack)
        template.resource_count_is("AWS::Lambda::Function", 2)
        assert "Fn::ImportValue" not in json.dumps(template.to_json())
        assert "Outputs" not in template.to_json()


def test_the_asset_holds_the_handler_package_alone() -> None:
    staged = Path(staged_lookup_asset())
    files = sorted(str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file())
    assert files
    assert all(f.startswith("image_lookup/") and f.endswith(".py") for f in files)
    assert "image_lookup/handler.py" in files
    assert not any("__pycache__" in f or "test" in f for f in files)
    assert sorted(os.listdir(staged)) == ["image_lookup"]


def test_handler_code_comes_from_that_asset(one_lookup: Template) -> None:
    one_lookup.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "image_lookup.handler.on_event",
            "Code": {"S3Key": Match.string_like_regexp(r"^[0-9a-f]{64}\.zip$")},
        },
    )


def test_promotion_gates_reach_the_template_and_grant_build_listing_only_where_used() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Gated")
    LatestImageBuild(
        stack,
        "Prod",
        image_name="golden",
        require_tags={"stage": "prod"},
        exclude_tags={"quarantine": "true"},
        min_age=cdk.Duration.days(3),
    )
    LatestImageBuild(
        stack, "Base", image_name="base", owner=ImageOwner.AMAZON, min_age=cdk.Duration.hours(1)
    )
    template = Template.from_stack(stack)
    props = [r["Properties"] for r in template.find_resources("Custom::LatestImageBuild").values()]
    prod = next(p for p in props if p["ImageName"] == "golden")
    assert prod["RequireTags"] == {"stage": "prod"}
    assert prod["ExcludeTags"] == {"quarantine": "true"}
    assert prod["MinAgeSeconds"] == "259200"
    listing = [
        flatten(s["Resource"])
        for s in iam_statements(template)
        if "imagebuilder:ListImageBuildVersions" in actions_of(s)
    ]
    # own gated images list their builds; Amazon's cannot (the service shows only the newest)
    assert len(listing) == 1 and ":aws:" not in listing[0]


@pytest.mark.parametrize(
    ("props", "shown"),
    [
        ({"require_tags": {"aws:internal": "x"}}, "'aws:internal'"),
        ({"exclude_tags": {"k": 7}}, "7"),
        ({"min_age": cdk.Duration.millis(1500)}, "1 second 500 millis"),
        ({"min_age": 3600}, "3600"),
    ],
)
def test_bad_gates_raise_at_synth_and_add_nothing(props: dict[str, Any], shown: str) -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Bad")
    with pytest.raises(ValueError, match=re.escape(shown)):
        LatestImageBuild(stack, "Lookup", image_name="golden", **props)
    assert stack.node.try_find_child("Lookup") is None


def test_a_zero_min_age_is_no_gate() -> None:
    stack = cdk.Stack(cdk.App(), "ZeroAge")
    LatestImageBuild(stack, "Lookup", image_name="golden", min_age=cdk.Duration.seconds(0))
    template = Template.from_stack(stack)
    (lookup,) = template.find_resources("Custom::LatestImageBuild").values()
    assert "MinAgeSeconds" not in lookup["Properties"]
    assert not any(
        "imagebuilder:ListImageBuildVersions" in actions_of(s) for s in iam_statements(template)
    )
