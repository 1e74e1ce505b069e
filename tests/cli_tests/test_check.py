"""``latest-image-build check`` against moto's CloudFormation and EC2 and the local Image Builder.

How a deployed lookup is set up in moto (it cannot run the custom resource's Lambda) is
in ``deployed_stacks.py``: CreateStack through the API, then moto's backend given the
submitted template and each lookup's physical id, the pinned build.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_endpoints.imagebuilder import FakeImageBuilder, FakeImageVersion
from local_endpoints.moto_services import MotoServices
from tests.cli_tests.conftest import Cli, one_line_failure
from tests.cli_tests.deployed_stacks import (
    client,
    deploy,
    lookup_resource,
    register_ami,
    with_amis,
)

# The stand-in resource of deployed_stacks.deploy(): moto warns that it creates nothing.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Tried to parse AWS\W+CloudFormation\W+WaitConditionHandle:UserWarning"
)
SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "GoldenImagePipeline.template.json"


def arn(image: FakeImageVersion, number: int = 1) -> str:
    """The ARN of build ``number`` of ``image``."""
    return image.build_arn(image.builds[number - 1])


def add(fake: FakeImageBuilder, moto: MotoServices, *args: Any, **kwargs: Any) -> FakeImageVersion:
    """``fake.add``, each build with an AMI that EC2 (moto) holds in the stack's account and
    region, as a distributed AMI-type build has (``check`` confirms the pinned one)."""
    return with_amis(moto, fake.add(*args, **kwargs))


def check(cli: Cli, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run ``check --format json``; return the result and the parsed report."""
    result = cli("check", *args, "--format", "json")
    assert result.stdout, result.stderr
    return result, json.loads(result.stdout)


def one_lookup_stack(
    moto: MotoServices, pinned: str, name: str = "Prod", **properties: Any
) -> None:
    template = {"Resources": {"Base": lookup_resource(name, "Base", **properties)}}
    deploy(moto, name, template, {"Base": pinned})


def test_current_pin_exits_0(fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli) -> None:
    image = add(fake, moto, "golden", "1.2.0")
    image.builds[0].amis = [{"region": "us-east-1", "image": register_ami(moto, "golden 1")}]
    one_lookup_stack(
        moto, arn(image), ImageName="golden", VersionSelector="1.x.x", RequireAmi="true"
    )
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 0, result.stderr
    (lookup,) = report["lookups"]
    assert lookup["status"] == "current"
    assert lookup["lookup"] == "Prod/Base" and lookup["logical_id"] == "Base"
    assert lookup["pinned"]["arn"] == arn(image) == lookup["now"]["ImageBuildVersionArn"]
    assert lookup["pinned"]["state"] == "AVAILABLE"
    assert report["exit_code"] == 0 and report["summary"]["current"] == 1


def test_newer_build_of_the_pinned_version_is_stale(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    image = add(fake, moto, "golden", "1.2.0", "AVAILABLE", "AVAILABLE")
    image.builds[0].date_created = "2026-03-01T10:00:00.000Z"
    image.builds[1].date_created = "2026-03-04T12:00:00.000Z"
    one_lookup_stack(moto, arn(image, 1), ImageName="golden")
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 3, result.stderr
    (lookup,) = report["lookups"]
    assert lookup["status"] == "stale"
    assert lookup["now"]["BuildVersion"] == "1.2.0/2"
    assert lookup["behind"] == {"versions": 0, "builds": 1, "days": 3}


def test_newer_versions_are_stale_and_counted(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    pinned = add(fake, moto, "golden", "1.2.0")
    pinned.builds[0].date_created = "2026-01-01T00:00:00.000Z"
    add(fake, moto, "golden", "1.3.0")
    newest = add(fake, moto, "golden", "1.10.0")
    newest.builds[0].date_created = "2026-02-15T00:00:00.000Z"
    add(fake, moto, "golden", "2.0.0")  # outside the selector
    one_lookup_stack(moto, arn(pinned), ImageName="golden", VersionSelector="1.x.x")
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 3
    (lookup,) = report["lookups"]
    assert lookup["now"]["Version"] == "1.10.0"
    assert lookup["behind"] == {"versions": 2, "builds": None, "days": 45}
    table = stack_cli("check", "--stack", "Prod")
    assert table.returncode == 3
    row = next(line for line in table.stdout.splitlines() if line.startswith("Prod "))
    assert "stale" in row and "1.2.0/1" in row and "1.10.0/1" in row
    assert "2 versions, 45 days" in row


def test_build_tagged_for_exclusion_after_the_pin_is_revoked(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    good = add(fake, moto, "golden", "1.1.0")
    pinned = add(fake, moto, "golden", "1.2.0")
    one_lookup_stack(moto, arn(pinned), ImageName="golden", ExcludeTags={"qa": "failed"})
    assert check(stack_cli, "--stack", "Prod")[0].returncode == 0
    pinned.builds[0].tags = {"qa": "failed"}  # a pipeline revokes it after the deploy
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 4
    (lookup,) = report["lookups"]
    assert lookup["status"] == "unusable"
    assert lookup["problem"] == "revoked: carries qa=failed"
    assert lookup["now"]["ImageBuildVersionArn"] == arn(good)


def test_deleted_build_is_unusable(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    add(fake, moto, "golden", "1.1.0")
    gone = add(fake, moto, "golden", "1.2.0")
    one_lookup_stack(moto, arn(gone), ImageName="golden")
    fake.images.remove(gone)  # a lifecycle policy deleted it
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 4
    (lookup,) = report["lookups"]
    assert lookup["status"] == "unusable" and lookup["problem"].startswith("deleted")
    assert lookup["pinned"] == {
        "arn": arn(gone), "build_version": "1.2.0/1", "state": "", "date_created": "",
        "ami_id": "",
    }  # fmt: skip
    assert lookup["now"]["Version"] == "1.1.0"


def test_deprecated_build_is_unusable_unless_the_lookup_takes_them(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    image = add(fake, moto, "golden", "1.2.0", "DEPRECATED", "AVAILABLE")
    one_lookup_stack(moto, arn(image, 1), ImageName="golden")
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 4
    assert report["lookups"][0]["problem"] == "state DEPRECATED"
    moto.reset()
    with_amis(moto, image)  # the reset forgot the AMIs too
    one_lookup_stack(moto, arn(image, 1), ImageName="golden", IncludeDeprecated="true")
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 3  # usable, but build 2 is newer
    assert report["lookups"][0]["status"] == "stale"


@pytest.mark.parametrize("require_ami", [{"RequireAmi": "true"}, {}])
def test_a_deregistered_ami_makes_the_pin_unusable(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli, require_ami: dict[str, str]
) -> None:
    """Issue 20 §6: an AMI-type pin whose AMI is deregistered is unusable for every consumer
    (a recipe's parent image needs the AMI too), RequireAmi or not: exit 4, naming the AMI."""
    ami = register_ami(moto, "golden 1.2.0/1")
    image = add(fake, moto, "golden", "1.2.0")
    image.builds[0].amis = [{"region": "us-east-1", "image": ami, "accountId": "123456789012"}]
    one_lookup_stack(moto, arn(image), ImageName="golden", **require_ami)
    assert check(stack_cli, "--stack", "Prod")[0].returncode == 0
    client(moto, "ec2").deregister_image(ImageId=ami)
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 4
    (lookup,) = report["lookups"]
    assert lookup["status"] == "unusable"
    assert lookup["problem"] == (
        f"AMI {ami} is deregistered (or disabled): EC2 no longer lists it in us-east-1"
    )
    assert lookup["pinned"]["ami_id"] == ami


def test_the_ami_checked_is_the_stacks_accounts_own_copy(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    """Issue 20 §6 / 21 §1: of a build distributed to several accounts, the stack's own copy
    is the pinned AMI (never a third account's, listed first here)."""
    own = register_ami(moto, "golden 1.2.0/1")
    image = add(fake, moto, "golden", "1.2.0", owner="Shared", owner_account="111122223333")
    image.builds[0].amis = [
        {"region": "us-east-1", "image": "ami-0e1000000000000e1", "accountId": "999988887777"},
        {"region": "us-east-1", "image": "ami-0a1000000000000a1", "accountId": "111122223333"},
        {"region": "us-east-1", "image": own, "accountId": "123456789012"},
    ]
    one_lookup_stack(
        moto, arn(image), ImageName="golden", Owner="Shared", ImageAccount="111122223333"
    )
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 0, result.stdout
    assert report["lookups"][0]["pinned"]["ami_id"] == own


def test_parameter_and_pseudo_parameter_values_are_evaluated(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    pinned = add(fake, moto, "golden", "1.2.0")
    add(fake, moto, "golden", "2.0.0")
    template = {
        "Parameters": {
            "BaseVersion": {"Type": "String", "Default": "x.x.x"},
            "Stage": {"Type": "String"},
        },
        "Resources": {
            "Base": lookup_resource(
                "Prod", "Base",
                ImageName="golden",
                VersionSelector={"Ref": "BaseVersion"},
                Region={"Ref": "AWS::Region"},
                RequireTags={"stage": {"Ref": "Stage"}},
                IncludeDeprecated={"Ref": "AWS::NoValue"},
            )
        },
    }  # fmt: skip
    pinned.builds[0].tags = {"stage": "prod"}
    deploy(moto, "Prod", template, {"Base": arn(pinned)}, {"BaseVersion": "1.x.x", "Stage": "prod"})
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 0, result.stdout  # with the default x.x.x it would be stale
    assert report["lookups"][0]["properties"] == {
        "ImageName": "golden",
        "VersionSelector": "1.x.x",
        "Region": "us-east-1",
        "RequireTags": {"stage": "prod"},
    }


def test_unevaluable_property_is_reported_never_guessed(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    image = add(fake, moto, "golden", "1.2.0")
    add(fake, moto, "golden", "1.3.0")
    one_lookup_stack(
        moto, arn(image), ImageName="golden",
        VersionSelector={"Fn::ImportValue": "golden-selector"},
    )  # fmt: skip
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 1
    (lookup,) = report["lookups"]
    assert lookup["status"] == "unknown"
    assert lookup["problem"] == (
        'cannot evaluate VersionSelector: {"Fn::ImportValue":"golden-selector"}'
    )
    assert lookup["now"] is None
    assert fake.count("ListImages") == 0  # no lookup ran on a guessed selector
    # what is known still counts: another stack's stale pin makes the run exit 3
    one_lookup_stack(moto, arn(image), name="Other", ImageName="golden")
    result, _ = check(stack_cli, "--stack", "Prod", "--stack", "Other")
    assert result.returncode == 3


def test_unusable_wins_over_stale(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    old = add(fake, moto, "golden", "1.2.0")
    add(fake, moto, "golden", "1.3.0")
    revoked = add(fake, moto, "silver", "1.0.0")
    revoked.builds[0].tags = {"qa": "failed"}
    template = {
        "Resources": {
            "Golden": lookup_resource("Prod", "Golden", ImageName="golden"),
            "Silver": lookup_resource(
                "Prod", "Silver", ImageName="silver", ExcludeTags={"qa": "failed"}
            ),
        }
    }
    deploy(moto, "Prod", template, {"Golden": arn(old), "Silver": arn(revoked)})
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 4
    assert [lookup["status"] for lookup in report["lookups"]] == ["stale", "unusable"]
    silver = report["lookups"][1]
    assert silver["now"] is None and "no build passes the promotion gates" in silver["problem"]


def test_all_finds_every_stack_with_lookups_and_skips_deleted_ones(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    old = add(fake, moto, "golden", "1.2.0")
    new = add(fake, moto, "golden", "1.3.0")
    one_lookup_stack(moto, arn(new), name="Current", ImageName="golden")
    one_lookup_stack(moto, arn(old), name="Behind", ImageName="golden")
    one_lookup_stack(moto, arn(old), name="Gone", ImageName="golden")
    client(moto, "cloudformation").delete_stack(StackName="Gone")
    client(moto, "cloudformation").create_stack(
        StackName="NoLookups",
        TemplateBody=json.dumps(
            {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
        ),
    )
    result, report = check(stack_cli, "--all")
    assert result.returncode == 3, result.stderr
    found = {(lookup["stack"], lookup["status"]) for lookup in report["lookups"]}
    assert found == {("Current", "current"), ("Behind", "stale")}


def test_the_lookups_cdk_synthesizes(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    """The lookups of the snapshot (the construct's real synth output), deployed and current."""
    synthesized = json.loads(SNAPSHOT.read_text())
    lookups = {
        logical_id: resource
        for logical_id, resource in synthesized["Resources"].items()
        if resource["Type"] == "Custom::LatestImageBuild"
    }
    amazon = add(fake, moto, "Amazon Linux 2023 x86", "2026.1.0", owner="Amazon")
    golden = add(fake, moto, "golden-al2023", "1.0.0")
    golden.builds[0].amis = [{"region": "us-east-1", "image": register_ami(moto, "golden")}]
    pins = {}
    for logical_id, resource in lookups.items():
        owner = resource["Properties"].get("Owner")
        pins[logical_id] = arn(amazon if owner == "Amazon" else golden)
    deploy(moto, "GoldenImagePipeline", {"Resources": lookups}, pins)
    result, report = check(stack_cli, "--stack", "GoldenImagePipeline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {lookup["status"] for lookup in report["lookups"]} == {"current"}
    assert len(report["lookups"]) == len(lookups) >= 2


def test_markdown_for_a_step_summary(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    old = add(fake, moto, "golden", "1.2.0")
    old.builds[0].date_created = "2026-01-01T00:00:00.000Z"
    new = add(fake, moto, "golden", "1.4.0")
    new.builds[0].date_created = "2026-01-15T00:00:00.000Z"
    revoked = add(fake, moto, "silver", "2.1.0")
    add(fake, moto, "silver", "2.0.0")
    revoked.builds[0].tags = {"qa": "failed"}
    template = {
        "Resources": {
            "Golden": lookup_resource("Prod", "Golden", ImageName="golden"),
            "Pinned": lookup_resource(
                "Prod", "Pinned", ImageName="golden", VersionSelector="1.2.x"
            ),
            "Silver": lookup_resource(
                "Prod", "Silver", ImageName="silver", ExcludeTags={"qa": "failed"}
            ),
            "Imported": lookup_resource(
                "Prod", "Imported", ImageName={"Fn::ImportValue": "image-name"}
            ),
        }
    }
    pins = {"Golden": arn(old), "Pinned": arn(old), "Silver": arn(revoked), "Imported": arn(old)}
    deploy(moto, "Prod", template, pins)
    result = stack_cli("check", "--stack", "Prod", "--format", "markdown")
    assert result.returncode == 4
    lines = result.stdout.splitlines()
    assert lines[0] == "### LatestImageBuild pins in us-east-1"
    header, rule, *rows = [line for line in lines if line.startswith("|")]
    assert header.count("|") == rule.count("|") == 8
    assert rows == [
        "| `Prod` | `Prod/Golden` | ⚠️ stale | `1.2.0/1` | `1.4.0/1` | 1 version, 14 days |  |",
        "| `Prod` | `Prod/Imported` | ❔ unknown | `1.2.0/1` |  |  | `cannot evaluate ImageName: "
        '{"Fn::ImportValue":"image-name"}` |',
        "| `Prod` | `Prod/Pinned` | ✅ current | `1.2.0/1` | `1.2.0/1` |  |  |",
        "| `Prod` | `Prod/Silver` | ❌ unusable | `2.1.0/1` | `2.0.0/1` |  | "
        "`revoked: carries qa=failed` |",
    ]
    assert lines[-1] == "4 lookups: 1 current, 1 stale, 1 unusable, 1 unknown; exit code 4."


def test_failures_are_one_line(fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli) -> None:
    line = one_line_failure(stack_cli("check", "--stack", "Nope"), 1)
    assert "'Nope'" in line and "not found" in line and "us-east-1" in line
    client(moto, "cloudformation").create_stack(
        StackName="NoLookups",
        TemplateBody=json.dumps(
            {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
        ),
    )
    line = one_line_failure(stack_cli("check", "--stack", "NoLookups"), 1)
    assert "holds no Custom::LatestImageBuild" in line
    line = one_line_failure(
        stack_cli("check", "--all", unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")), 1
    )
    assert "no AWS credentials" in line
    one_line_failure(stack_cli("check"), 2)
    one_line_failure(stack_cli("check", "--all", "--stack", "Prod"), 2)
    one_line_failure(stack_cli("check", "--all", "--format", "yaml"), 2)


def readme_policy_actions() -> set[str]:
    """The actions of the policy under the README's "IAM for a CI role"."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### IAM for a CI role", 1)[1]
    policy = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    actions: set[str] = set()
    for statement in policy["Statement"]:
        action = statement["Action"]
        actions.update([action] if isinstance(action, str) else action)
    return actions


@pytest.fixture
def lookup_logger() -> Iterator[None]:
    """The command configures the ``image_lookup`` logger; give other tests theirs back."""
    logger = logging.getLogger("image_lookup")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.propagate = propagate


def test_the_readme_policy_allows_every_call_check_makes(
    fake: FakeImageBuilder,
    moto: MotoServices,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    lookup_logger: None,
) -> None:
    """In this process, to see every request: each one must be allowed by the README policy."""
    from latest_image_build_cli.aws_session import sdk_session
    from latest_image_build_cli.main import main

    for name, value in moto.client_environment().items():
        if name.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.setenv(name, value)
    ami = register_ami(moto, "golden 1.3.0/1")
    old = add(fake, moto, "golden", "1.2.0")
    new = add(fake, moto, "golden", "1.3.0")
    new.builds[0].amis = [{"region": "us-east-1", "image": ami}]
    new.builds[0].tags = {"stage": "prod"}
    template = {
        "Resources": {
            "Ami": lookup_resource("Prod", "Ami", ImageName="golden", RequireAmi="true"),
            "Gated": lookup_resource(
                "Prod", "Gated", ImageName="golden", RequireTags={"stage": "prod"}
            ),
            "Behind": lookup_resource("Prod", "Behind", ImageName="golden"),
        }
    }
    deploy(moto, "Prod", template, {"Ami": arn(new), "Gated": arn(new), "Behind": arn(old)})
    called: set[str] = set()

    def record(event_name: str, **_kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        called.add(f"{service}:{operation}")

    sdk_session().events.register("before-send", record)
    try:
        assert main(["check", "--all"]) == 3, capsys.readouterr()
    finally:
        sdk_session().events.unregister("before-send", record)
    assert called == {
        "cloudformation:ListStacks",
        "cloudformation:GetTemplate",
        "cloudformation:DescribeStacks",
        "cloudformation:ListStackResources",
        "imagebuilder:GetImage",
        "imagebuilder:ListImages",
        "imagebuilder:ListImageBuildVersions",
        "ec2:DescribeImages",
    }
    assert called <= readme_policy_actions()


def test_a_lookup_that_pinned_nothing_is_unknown(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    add(fake, moto, "golden", "1.2.0")
    # a custom resource whose create failed keeps the physical id the framework made up
    one_lookup_stack(moto, "2f1e8c3a-6a8e-4c3e-9a51-1d4c0b6a7e90", ImageName="golden")
    result, report = check(stack_cli, "--stack", "Prod")
    assert result.returncode == 1
    (lookup,) = report["lookups"]
    assert lookup["status"] == "unknown" and lookup["pinned"] is None
    assert lookup["problem"].startswith("no pinned build: physical id '2f1e8c3a-")


def test_a_short_timeout_shrinks_checks_attempts_too(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    """README "Command line": any --timeout is accepted and each attempt shrinks to fit it.
    An Image Builder that never answers makes the lookup's row name the deadline, after
    attempts were made (at the default 13 s per attempt, 4 s would allow none)."""
    image = add(fake, moto, "golden", "1.2.0")
    one_lookup_stack(moto, arn(image), ImageName="golden")
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = stack_cli(
            "check", "--stack", "Prod", "--format", "json", "--timeout", "4",
            AWS_ENDPOINT_URL_IMAGEBUILDER=url,
        )  # fmt: skip
    (lookup,) = json.loads(result.stdout)["lookups"]
    assert lookup["status"] == "unknown", lookup
    assert "within --timeout 4 s; last failure: ReadTimeoutError" in lookup["problem"]
    assert "after 0 attempts" not in lookup["problem"]
