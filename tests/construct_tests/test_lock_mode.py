"""Lock mode: an app whose context names a lock file pins every lookup from it, as literals.

No custom resource, no Lambda function, no IAM for the lookup; a missing or stale entry
fails synth in one line naming the construct path and ``latest-image-build lock``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_imagebuilder as imagebuilder
from aws_cdk import aws_imagebuilder_alpha as imagebuilder_alpha
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint_file

from constructs_lib import ImageOwner, LatestImageBuild
from constructs_lib.lock_file import (
    DISCOVERY_CONTEXT,
    LOCK_FILE_CONTEXT,
    LockEntry,
    LockFile,
    LockFileError,
    StackPlace,
)
from example.locked_app import LOCK_FILE, build_locked_app
from image_lookup.contract import ATTRIBUTE_KEYS, Attribute
from latest_image_build_cli.app_lookups import FoundLookup, read_assembly
from tests.support.synth import REPO, cdk_json_context

pytestmark = pytest.mark.synth

REGION = "eu-west-1"
ACCOUNT = "111122223333"
ENV = cdk.Environment(account=ACCOUNT, region=REGION)
LOCK_NAME = "images.lock.json"
COMMAND = "latest-image-build lock"


def pin(
    name: str, version: str, *, ami: str = "", uri: str = "", account: str = ACCOUNT
) -> dict[str, str]:
    """Every attribute of a build of ``name`` (what the lock command writes)."""
    arn = f"arn:aws:imagebuilder:{REGION}:{account}:image/{name}/{version}"
    values = {
        Attribute.IMAGE_BUILD_VERSION_ARN: f"{arn}/1",
        Attribute.IMAGE_VERSION_ARN: arn,
        Attribute.IMAGE_NAME: name,
        Attribute.VERSION: version,
        Attribute.BUILD_VERSION: f"{version}/1",
        Attribute.AMI_ID: ami,
        Attribute.CONTAINER_IMAGE_URI: uri,
        Attribute.PLATFORM: "Linux",
        Attribute.OS_VERSION: "Amazon Linux 2023",
        Attribute.IMAGE_TYPE: "DOCKER" if uri else "AMI",
        Attribute.DATE_CREATED: "2026-11-02T14:03:19.000Z",
    }
    assert set(values) == set(ATTRIBUTE_KEYS)
    return values


GOLDEN_QUERY = {
    "ImageName": "golden",
    "VersionSelector": "1.x.x",
    "Owner": "Self",
    "Platform": "Linux",
    "RequireAmi": "true",
}
SERVICE_QUERY = {
    "ImageName": "service",
    "VersionSelector": "x.x.x",
    "Owner": "Self",
    "ImageType": "DOCKER",
    "RequireContainer": "true",
}
BASE_QUERY = {"ImageName": "amazon-linux-2023-x86", "VersionSelector": "x.x.x", "Owner": "Amazon"}
GOLDEN_PIN = pin("golden", "1.4.0", ami="ami-0e8b4f5d6a7c8394a")
SERVICE_PIN = pin(
    "service", "3.1.0", uri=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/service:3.1.0-1"
)
BASE_PIN = pin("amazon-linux-2023-x86", "2026.11.14", ami="ami-0c6f2d3b4e5a61728", account="aws")


def write_lock(directory: Path, entries: dict[str, tuple[dict[str, Any], dict[str, str]]]) -> Path:
    path = directory / LOCK_NAME
    lock = LockFile(
        {
            key: LockEntry(query, StackPlace(REGION, ACCOUNT), p)
            for key, (query, p) in entries.items()
        }
    )
    path.write_text(lock.render())
    return path


FULL_LOCK = {
    "Prod/Golden": (GOLDEN_QUERY, GOLDEN_PIN),
    "Prod/Service": (SERVICE_QUERY, SERVICE_PIN),
    "Prod/Base": (BASE_QUERY, BASE_PIN),
}


def locked_app(directory: Path, **context: Any) -> cdk.App:
    return cdk.App(
        outdir=str(directory / "cdk.out"),
        context={LOCK_FILE_CONTEXT: str(directory / LOCK_NAME), **context},
    )


def build_prod(app: cdk.App) -> cdk.Stack:
    """Lookups used every way: attributes, machine image, SSM, container, L1 and L2 recipes."""
    stack = cdk.Stack(app, "Prod", env=ENV)
    golden = LatestImageBuild(
        stack, "Golden", image_name="golden", version="1.x.x", platform="Linux"
    )
    ec2.LaunchTemplate(stack, "Template", machine_image=golden.machine_image(), require_imdsv2=True)
    golden.publish_parameter("/golden/ami")
    service = LatestImageBuild(stack, "Service", image_name="service", image_type="DOCKER")
    task = ecs.FargateTaskDefinition(stack, "Task")
    task.add_container("app", image=service.container_image())
    base = LatestImageBuild(
        stack, "Base", image_name="amazon-linux-2023-x86", owner=ImageOwner.AMAZON
    )
    imagebuilder.CfnImageRecipe(
        stack,
        "Recipe",
        name="golden",
        version="1.0.x",
        parent_image=base.image_build_version_arn,
        components=[
            imagebuilder.CfnImageRecipe.ComponentConfigurationProperty(
                component_arn=f"arn:aws:imagebuilder:{REGION}:aws:component/update-linux/x.x.x"
            )
        ],
    )
    imagebuilder_alpha.ImageRecipe(stack, "L2Recipe", base_image=base.to_base_image())
    cdk.CfnOutput(stack, "BaseVersion", value=base.version)
    return stack


def one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def test_every_adapter_gets_literals_and_no_lookup_machinery(tmp_path: Path) -> None:
    write_lock(tmp_path, FULL_LOCK)
    template = Template.from_stack(build_prod(locked_app(tmp_path)))
    resources = template.to_json()["Resources"]
    types = {resource["Type"] for resource in resources.values()}
    assert "Custom::LatestImageBuild" not in types
    assert "AWS::Lambda::Function" not in types
    assert "AWS::Logs::LogGroup" not in types
    assert not any("LatestImageBuildProvider" in key for key in resources)
    (launch_template,) = template.find_resources("AWS::EC2::LaunchTemplate").values()
    assert launch_template["Properties"]["LaunchTemplateData"]["ImageId"] == GOLDEN_PIN["AmiId"]
    (parameter,) = template.find_resources("AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Value"] == GOLDEN_PIN["AmiId"]
    assert parameter["Properties"]["DataType"] == "aws:ec2:image"
    (task,) = template.find_resources("AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Image"] == SERVICE_PIN["ContainerImageUri"]
    recipes = template.find_resources("AWS::ImageBuilder::ImageRecipe")
    assert {r["Properties"]["ParentImage"] for r in recipes.values()} == {
        BASE_PIN["ImageBuildVersionArn"]
    }
    assert template.to_json()["Outputs"]["BaseVersion"]["Value"] == "2026.11.14"
    # the only IAM is the task's execution role's ECR pull, scoped to the URI's registry
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements[1]["Resource"]["Fn::Join"][1][2] == f":ecr:{REGION}:{ACCOUNT}:repository/*"
    assert "imagebuilder:" not in json.dumps(statements)


def test_the_resource_property_says_there_is_none(tmp_path: Path) -> None:
    write_lock(tmp_path, FULL_LOCK)
    stack = build_prod(locked_app(tmp_path))
    golden = stack.node.find_child("Golden")
    assert isinstance(golden, LatestImageBuild)
    with pytest.raises(RuntimeError, match=r"Prod/Golden is pinned from its lock file"):
        golden.resource  # noqa: B018


def test_two_synths_are_byte_identical(tmp_path: Path) -> None:
    write_lock(tmp_path, FULL_LOCK)
    first = json.dumps(Template.from_stack(build_prod(locked_app(tmp_path))).to_json())
    second = json.dumps(Template.from_stack(build_prod(locked_app(tmp_path))).to_json())
    assert first == second


def test_a_lookup_without_entry_fails_naming_its_path_and_the_command(tmp_path: Path) -> None:
    write_lock(tmp_path, {"Prod/Golden": (GOLDEN_QUERY, GOLDEN_PIN)})
    with pytest.raises(LockFileError) as error:
        build_prod(locked_app(tmp_path))
    assert one_line(error) == (
        f"LatestImageBuild Prod/Service: no entry in lock file {tmp_path / LOCK_NAME}; "
        f"run `{COMMAND}` to pin it"
    )
    assert isinstance(error.value, ValueError)


def test_a_missing_lock_file_fails_the_first_lookup(tmp_path: Path) -> None:
    app = cdk.App(context={LOCK_FILE_CONTEXT: str(tmp_path / "absent.json")})
    with pytest.raises(LockFileError) as error:
        build_prod(app)
    assert one_line(error) == (
        f"LatestImageBuild Prod/Golden: no lock file {tmp_path / 'absent.json'}; "
        f"run `{COMMAND}` to pin it"
    )


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({"version": "2.x.x"}, 'VersionSelector "1.x.x" -> "2.x.x"'),
        ({"platform": "Windows"}, 'Platform "Linux" -> "Windows"'),
        ({"require_tags": {"stage": "prod"}}, 'RequireTags (unset) -> {"stage": "prod"}'),
        ({"image_account": "444455556666"}, 'ImageAccount (unset) -> "444455556666"'),
        ({"region": "us-west-2"}, 'Region (unset) -> "us-west-2"'),
        ({"min_age": cdk.Duration.days(3)}, 'MinAgeSeconds (unset) -> "259200"'),
    ],
)
def test_a_changed_query_fails_naming_what_changed(
    tmp_path: Path, changed: dict[str, Any], expected: str
) -> None:
    write_lock(tmp_path, {"Prod/Golden": (GOLDEN_QUERY, GOLDEN_PIN)})
    stack = cdk.Stack(locked_app(tmp_path), "Prod", env=ENV)
    props: dict[str, Any] = {"image_name": "golden", "version": "1.x.x", "platform": "Linux"}
    with pytest.raises(LockFileError) as error:
        LatestImageBuild(stack, "Golden", **{**props, **changed})
    assert one_line(error) == (
        f"LatestImageBuild Prod/Golden: its entry in lock file {tmp_path / LOCK_NAME} is stale "
        f"({expected}); run `{COMMAND}` to re-pin it"
    )


def test_a_stack_in_another_region_or_account_is_stale(tmp_path: Path) -> None:
    write_lock(tmp_path, {"Prod/Golden": (GOLDEN_QUERY, GOLDEN_PIN)})
    app = locked_app(tmp_path)
    for env in (
        cdk.Environment(account=ACCOUNT, region="us-east-1"),
        cdk.Environment(account="444455556666", region=REGION),
    ):
        stack = cdk.Stack(app, "Prod", env=env)
        with pytest.raises(LockFileError, match=r"Prod/Golden: its entry .* is stale \(stack "):
            LatestImageBuild(
                stack, "Golden", image_name="golden", version="1.x.x", platform="Linux"
            )
        app = locked_app(tmp_path)


def test_an_adapter_needing_an_output_the_lock_did_not_check_fails_at_the_call(
    tmp_path: Path,
) -> None:
    unchecked = {k: v for k, v in GOLDEN_QUERY.items() if k != "RequireAmi"}
    write_lock(tmp_path, {"Prod/Golden": (unchecked, GOLDEN_PIN)})
    stack = cdk.Stack(locked_app(tmp_path), "Prod", env=ENV)
    golden = LatestImageBuild(
        stack, "Golden", image_name="golden", version="1.x.x", platform="Linux"
    )
    assert golden.ami_id == GOLDEN_PIN["AmiId"]  # the attribute alone needs no check
    with pytest.raises(LockFileError) as error:
        golden.machine_image()
    assert 'RequireAmi (unset) -> "true"' in one_line(error)
    assert "Prod/Golden" in str(error.value) and COMMAND in str(error.value)


def test_an_entry_checked_for_more_than_the_lookup_needs_still_serves_it(tmp_path: Path) -> None:
    write_lock(tmp_path, {"Prod/Golden": (GOLDEN_QUERY, GOLDEN_PIN)})  # RequireAmi "true"
    stack = cdk.Stack(locked_app(tmp_path), "Prod", env=ENV)
    golden = LatestImageBuild(
        stack, "Golden", image_name="golden", version="1.x.x", platform="Linux"
    )
    assert golden.build_version == "1.4.0/1"


def test_lock_mode_needs_literals_a_region_and_no_protection(tmp_path: Path) -> None:
    write_lock(tmp_path, FULL_LOCK)
    app = locked_app(tmp_path)
    stack = cdk.Stack(app, "Prod", env=ENV)
    owner = cdk.CfnParameter(stack, "Owner").value_as_string
    with pytest.raises(LockFileError, match=r"Prod/Golden: .* but Owner is a token"):
        LatestImageBuild(stack, "Golden", image_name="golden", owner=owner)
    with pytest.raises(LockFileError, match=r"Prod/Tagged: protect_pinned_build=True tags"):
        LatestImageBuild(stack, "Tagged", image_name="golden", protect_pinned_build=True)
    agnostic = cdk.Stack(app, "Anywhere")
    with pytest.raises(LockFileError) as error:
        LatestImageBuild(agnostic, "Golden", image_name="golden")
    assert one_line(error) == (
        "LatestImageBuild Anywhere/Golden: lock mode pins the AMI one account launches in one "
        "region, but stack Anywhere has no concrete region: give it "
        "env=Environment(account=..., region=...)"
    )
    # issue "One image factory, many accounts": a pin is one account's AMI, so the account too
    regional = cdk.Stack(app, "Regional", env=cdk.Environment(region=REGION))
    with pytest.raises(LockFileError, match=r"stack Regional has no concrete account"):
        LatestImageBuild(regional, "Golden", image_name="golden")


def test_an_unreadable_lock_file_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text("<<<<<<< HEAD\n")
    with pytest.raises(LockFileError, match=r"images.lock.json is not valid JSON .*line 1"):
        build_prod(locked_app(tmp_path))


def test_discovery_records_each_query_and_builds_without_a_lock_file(tmp_path: Path) -> None:
    """What ``latest-image-build lock`` runs: placeholders, and the queries as metadata,
    requirements that adapters add after construction included."""
    app = locked_app(tmp_path, **{DISCOVERY_CONTEXT: "true"})
    build_prod(app)
    assembly = app.synth()
    # read as the lock command reads it
    records = {found.path: found for found in read_assembly(Path(assembly.directory))}
    assert records == {
        f"Prod/{name}": FoundLookup(
            f"Prod/{name}", str(tmp_path / LOCK_NAME), query, StackPlace(REGION, ACCOUNT)
        )
        for name, query in (
            ("Golden", GOLDEN_QUERY),
            ("Service", SERVICE_QUERY),
            ("Base", BASE_QUERY),
        )
    }
    artifact = assembly.get_stack_by_name("Prod")
    assert "Custom::LatestImageBuild" not in json.dumps(artifact.template)


def test_lookups_in_a_stage_are_found_by_their_full_path(tmp_path: Path) -> None:
    """A stage is a nested cloud assembly; its lookups are keyed by their path in the app."""
    app = locked_app(tmp_path, **{DISCOVERY_CONTEXT: "true"})
    stage = cdk.Stage(app, "Beta")
    stack = cdk.Stack(stage, "Prod", env=ENV)
    LatestImageBuild(stack, "Golden", image_name="golden", version="1.x.x", platform="Linux")
    found = read_assembly(Path(app.synth().directory))
    assert [lookup.path for lookup in found] == ["Beta/Prod/Golden"]
    write_lock(tmp_path, {"Beta/Prod/Golden": (GOLDEN_QUERY, GOLDEN_PIN)})
    stack = cdk.Stack(cdk.Stage(locked_app(tmp_path), "Beta"), "Prod", env=ENV)
    golden = LatestImageBuild(
        stack, "Golden", image_name="golden", version="1.x.x", platform="Linux"
    )
    assert golden.build_version == GOLDEN_PIN["BuildVersion"]


def test_a_deploy_mode_app_records_nothing(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Dev", env=ENV)
    LatestImageBuild(stack, "Golden", image_name="golden")
    assembly = app.synth()
    assert "Custom::LatestImageBuild" in json.dumps(assembly.get_stack_by_name("Dev").template)
    assert read_assembly(Path(assembly.directory)) == []


# ---- the example's production app (example/locked_app.py) -----------------------------------


def test_the_locked_example_synthesizes_offline_from_its_committed_lock(tmp_path: Path) -> None:
    assembly = build_locked_app(outdir=str(tmp_path), context=cdk_json_context()).synth()
    template = assembly.get_stack_by_name("GoldenImagePipelineProd").template
    resources = template["Resources"]
    assert "Custom::LatestImageBuild" not in {resource["Type"] for resource in resources.values()}
    assert not [key for key in resources if key.startswith("LatestImageBuildProvider")]
    # the one function is on_newer_build()'s evaluator (the example asks for it), not a lookup
    functions = [key for key, r in resources.items() if r["Type"] == "AWS::Lambda::Function"]
    assert [key.startswith("LatestImageBuildNewerBuild") for key in functions] == [True]
    lock = LockFile.parse((REPO / LOCK_FILE).read_text(), LOCK_FILE)
    base = lock.entries["GoldenImagePipelineProd/BaseImage"].pin
    golden = lock.entries["GoldenImagePipelineProd/GoldenImage"].pin
    (recipe,) = [r for r in template["Resources"].values() if r["Type"].endswith("ImageRecipe")]
    assert recipe["Properties"]["ParentImage"] == base["ImageBuildVersionArn"]
    outputs = {key: value["Value"] for key, value in template["Outputs"].items()}
    assert outputs["GoldenImageAmi"] == golden["AmiId"]
    assert outputs["BaseImageVersion"] == base["Version"]
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions" and plugin["violations"] == []
    # no acknowledgment of a lookup's IAM is needed: there is none
    assert not [
        construct
        for finding in plugin["suppressedViolations"]
        for construct in finding["violatingConstructs"]
        if "LatestImageBuildProvider" in construct["constructPath"]
    ]
    template_path = Path(assembly.get_stack_by_name("GoldenImagePipelineProd").template_full_path)
    assert [
        str(m) for m in lint_file(template_path, config=ManualArgs(regions=["us-east-1"]))
    ] == []


def test_the_committed_lock_is_in_the_commands_own_format() -> None:
    text = (REPO / LOCK_FILE).read_text()
    assert LockFile.parse(text, LOCK_FILE).render() == text
    assert re.search(r'"lookups": \{\n    "GoldenImagePipelineProd/BaseImage"', text)
