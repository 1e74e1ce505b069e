"""The example app: snapshot, cfn-lint and cdk-nag (AWS Solutions) on what it synthesizes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk.cx_api import CloudAssembly
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from app import build_app
from constructs_lib import ImageOwner, LatestImageBuild

pytestmark = pytest.mark.synth

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "tests" / "snapshots" / "GoldenImagePipeline.template.json"
ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    outdir = tmp_path_factory.mktemp("example")
    return build_app(outdir=str(outdir), context=cdk_json_context()).synth()


def validation_report(assembly_dir: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((Path(assembly_dir) / "validation-report.json").read_text())
    return report


def test_snapshot_of_the_example_stack(example: CloudAssembly) -> None:
    template = Path(example.get_stack_by_name("GoldenImagePipeline").template_full_path).read_text()
    # The handler asset's hash changes with every code change; the template's shape must not.
    normalized = json.dumps(
        json.loads(ASSET_HASH.sub("<asset-hash>", template)), indent=1, sort_keys=True
    )
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(normalized + "\n")
    assert normalized + "\n" == SNAPSHOT.read_text(), (
        "run UPDATE_SNAPSHOTS=1 make unit-tests to accept"
    )


def test_example_pins_the_amazon_base_image_in_the_recipe(example: CloudAssembly) -> None:
    template = example.get_stack_by_name("GoldenImagePipeline").template
    lookups = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "Custom::LatestImageBuild"
    }
    base_id = next(i for i, r in lookups.items() if r["Properties"]["Owner"] == "Amazon")
    golden = next(r for r in lookups.values() if r["Properties"]["Owner"] == "Self")
    assert golden["Properties"]["VersionSelector"] == "1.x.x"
    recipe = next(
        r for r in template["Resources"].values() if r["Type"] == "AWS::ImageBuilder::ImageRecipe"
    )
    assert recipe["Properties"]["ParentImage"] == {"Fn::GetAtt": [base_id, "ImageBuildVersionArn"]}
    # Image Builder numbers each replacement (test_recipe_versions.py replays a moved pin)
    assert recipe["Properties"]["Version"] == "1.0.x"
    pipeline = next(
        r for r in template["Resources"].values() if r["Type"] == "AWS::ImageBuilder::ImagePipeline"
    )
    assert "ImageRecipeArn" in pipeline["Properties"]
    outputs = template["Outputs"]
    for prefix in ("Base", "Golden"):
        for suffix in ("ImageBuildArn", "ImageVersion", "ImageAmi"):
            assert f"{prefix}{suffix}" in outputs


def test_the_lifecycle_policy_spares_every_build_the_example_pins(example: CloudAssembly) -> None:
    """Both stacks' golden lookups tag what they pin; the one policy skips those tags.

    The tag is the README's (``latest-image-build:protected`` = ``true``). A lifecycle
    policy skips images, and AMIs, whose tags match its ``ExclusionRules`` ``TagMap`` and
    ``Amis.TagMap`` (Image Builder API Reference, ``LifecyclePolicyDetailExclusionRules``,
    https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_LifecyclePolicyDetailExclusionRules.html).
    """
    protected = {"latest-image-build:protected": "true"}
    templates = {
        name: example.get_stack_by_name(name).template
        for name in ("GoldenImagePipeline", "GoldenRollout")
    }
    golden_lookups = [
        resource["Properties"]
        for template in templates.values()
        for resource in template["Resources"].values()
        if resource["Type"] == "Custom::LatestImageBuild"
        and resource["Properties"]["ImageName"] == "golden-al2023"
    ]
    assert len(golden_lookups) == 2  # one per stack
    assert [lookup.get("ProtectPinnedBuild") for lookup in golden_lookups] == ["true", "true"]
    policies = [
        resource["Properties"]
        for template in templates.values()
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ImageBuilder::LifecyclePolicy"
    ]
    (policy,) = policies  # one policy serves every stack's golden builds
    assert policy["ResourceType"] == "AMI_IMAGE"
    (detail,) = policy["PolicyDetails"]
    assert detail["Action"]["Type"] == "DELETE" and detail["Action"]["IncludeResources"]["Amis"]
    assert detail["ExclusionRules"] == {"TagMap": protected, "Amis": {"TagMap": protected}}
    # it acts on the builds those lookups pin: their image, under their selector
    assert {(lookup["ImageName"], lookup["VersionSelector"]) for lookup in golden_lookups} == {
        (recipe["Name"], recipe["SemanticVersion"])
        for recipe in policy["ResourceSelection"]["Recipes"]
    }


@pytest.fixture(scope="module")
def library_stacks(tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    """Stacks of 1 and 30 varied lookups, checked by cdk-nag at synth like the example."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("library")), context=cdk_json_context())
    one = cdk.Stack(app, "OneLookup")
    LatestImageBuild(one, "Lookup", image_name="golden")
    thirty = cdk.Stack(
        app, "ThirtyLookups", env=cdk.Environment(account="111122223333", region="eu-west-1")
    )
    owner_parameter = cdk.CfnParameter(thirty, "Owner").value_as_string
    owners: list[ImageOwner | str] = [*ImageOwner, owner_parameter]
    for index in range(30):
        owner = owners[index % len(owners)]
        LatestImageBuild(
            thirty,
            f"Lookup{index}",
            image_name=f"image-{index}",
            owner=owner,
            # include_deprecated: own images only (or an owner known at deploy)
            include_deprecated=index % 2 == 0 and owner in (ImageOwner.SELF, owner_parameter),
            region="us-west-2" if index % 3 == 0 else None,
            refresh_on_every_deploy=False,
        )
    consumers = cdk.Stack(
        app, "Consumers", env=cdk.Environment(account="111122223333", region="eu-west-1")
    )
    golden = LatestImageBuild(
        consumers, "Golden", image_name="golden", platform="Linux", require_tags={"stage": "prod"}
    )
    ec2.LaunchTemplate(
        consumers, "Template", machine_image=golden.machine_image(), require_imdsv2=True
    )
    golden.publish_parameter("/golden/ami")
    service = LatestImageBuild(consumers, "Service", image_name="service", image_type="DOCKER")
    task = ecs.FargateTaskDefinition(consumers, "Task")
    task.add_container(
        "app",
        image=service.container_image(),
        logging=ecs.LogDrivers.aws_logs(stream_prefix="app"),
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app.synth()  # raises on any unacknowledged finding


def test_cfn_lint_finds_nothing(example: CloudAssembly, library_stacks: CloudAssembly) -> None:
    templates = [Path(s.template_full_path) for s in (*example.stacks, *library_stacks.stacks)]
    assert len(templates) == 6  # three example stacks, three library stacks
    for template in templates:
        matches = lint_file(template, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
        assert [str(match) for match in matches] == [], template.name


def test_cdk_nag_passes_on_varied_lookups(library_stacks: CloudAssembly) -> None:
    report = validation_report(library_stacks.directory)
    (plugin,) = report["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions" and plugin["violations"] == []
    thirty_image_grants = {
        finding["ruleName"]
        for finding in plugin["suppressedViolations"]
        for construct in finding["violatingConstructs"]
        if construct["constructPath"].startswith("ThirtyLookups/")
        and ":image/*" in finding["ruleName"]
    }
    # one acknowledged IAM5 per (owner account, region) that the 30 lookups use
    prefix = "AwsSolutions-IAM5[Resource::arn:aws:imagebuilder:"
    assert thirty_image_grants == {
        f"{prefix}us-west-2:111122223333:image/*]",  # SELF lookups, all in us-west-2
        f"{prefix}us-west-2:*:image/*]",  # THIRD_PARTY in us-west-2
        f"{prefix}eu-west-1:aws:image/*]",  # AMAZON in the stack's region
        f"{prefix}eu-west-1:*:image/*]",  # SHARED, Marketplace and the token owner
    }


def test_cdk_nag_has_no_unacknowledged_finding(example: CloudAssembly) -> None:
    report = validation_report(example.directory)
    plugins = {plugin["pluginName"]: plugin for plugin in report["pluginReports"]}
    assert "AwsSolutions" in plugins  # the rules really ran
    for plugin in plugins.values():
        assert plugin["violations"] == [], plugin["pluginName"]
        assert plugin["conclusion"] == "success"
    acknowledged = plugins["AwsSolutions"]["suppressedViolations"]
    assert {finding["ruleName"] for finding in acknowledged} == {
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:imagebuilder:<AWS::Region>:<AWS::AccountId>:image/*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:imagebuilder:<AWS::Region>:aws:image/*]",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AwsSolutions-IAM5[Resource::<LatestImageBuildProviderHandler341BFD16.Arn>:*]",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/EC2InstanceProfileForImageBuilder]",
        # the rollout example's group sends no scaling notifications (its alarm watches it)
        "AwsSolutions-AS3",
        # protect_pinned_build: the pinned build's AMIs, in regions known only at deploy
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*::image/*]",
        # the golden lifecycle policy's execution role
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy]",
    }
    assert all(len(finding["reason"]) > 20 for finding in acknowledged)


def test_a_new_finding_fails_synth(tmp_path: Path) -> None:
    app = build_app(outdir=str(tmp_path), context=cdk_json_context())
    stack = cdk.Stack.of(app.node.find_child("GoldenImagePipeline"))
    iam.Role(
        stack,
        "TooBroad",
        assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AdministratorAccess")],
    )
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    violations = validation_report(str(tmp_path))["pluginReports"][0]["violations"]
    assert [v["ruleName"] for v in violations] == [
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AdministratorAccess]"
    ]


def test_a_bare_rule_id_acknowledges_nothing(tmp_path: Path) -> None:
    # cdk-nag 3 matches acknowledgments exactly: the finding id, not just the rule
    app = build_app(outdir=str(tmp_path), context=cdk_json_context())
    stack = cdk.Stack.of(app.node.find_child("GoldenImagePipeline"))
    role = iam.Role(
        stack,
        "TooBroad",
        assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AdministratorAccess")],
    )
    Validations.of(role).acknowledge(
        Acknowledgment(id="AwsSolutions::AwsSolutions-IAM4", reason="x" * 30)
    )
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_the_librarys_acknowledgments_never_hide_a_users_finding(tmp_path: Path) -> None:
    """The same finding id on the user's own role still fails: acknowledgments are scoped."""
    app = build_app(outdir=str(tmp_path), context=cdk_json_context())
    stack = cdk.Stack.of(app.node.find_child("GoldenImagePipeline"))
    role = iam.Role(stack, "UserRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    violations = validation_report(str(tmp_path))["pluginReports"][0]["violations"]
    assert [v["ruleName"] for v in violations] == ["AwsSolutions-IAM5[Resource::*]"]
    paths = [c["constructPath"] for c in violations[0]["violatingConstructs"]]
    assert paths == ["GoldenImagePipeline/UserRole/DefaultPolicy/Resource"]


def test_the_cdk_cli_synthesizes_the_app_without_banners(tmp_path: Path) -> None:
    """What `make synth` runs: the pinned CLI on the project's Node.js, through cdk.json."""
    import subprocess

    result = subprocess.run(
        ["cdk", "synth", "--no-notices", "--output", str(tmp_path), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "GoldenImagePipeline.template.json").is_file()
    for banner in ("end-of-life", "not supported", "deprecated", "NOTICES"):
        assert banner not in result.stderr + result.stdout
