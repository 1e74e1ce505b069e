"""``latest-image-build lock``, end to end: a real CDK app in a subprocess, the local Image
Builder, the lock file on disk, and the app synthesized from it afterwards."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.lock_file import LOCK_FILE_CONTEXT, LockFile
from image_lookup.contract import ATTRIBUTE_KEYS
from local_endpoints.imagebuilder import REGION, FakeImageBuilder
from tests.cli_tests.conftest import Cli, one_line_failure
from tests.support.example_images import add_build

pytestmark = pytest.mark.synth

LOCK_NAME = "images.lock.json"
APP = """
import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs_lib import ImageOwner, LatestImageBuild

app = cdk.App()
stack = cdk.Stack(app, "Prod", env=cdk.Environment(account="123456789012", region="{region}"))
base = LatestImageBuild(stack, "Base", image_name="amazon-linux-2023-x86", owner=ImageOwner.AMAZON)
golden = LatestImageBuild(
    stack, "Golden", image_name="golden", version="{golden}", platform="Linux"
)
ec2.LaunchTemplate(stack, "Template", machine_image=golden.machine_image())
if {service}:
    LatestImageBuild(stack, "Service", image_name="service", image_type="DOCKER").container_image()
cdk.CfnOutput(stack, "BaseArn", value=base.image_build_version_arn)
{extra}
app.synth()
"""


def write_app(
    directory: Path,
    *,
    golden: str = "1.x.x",
    service: bool = True,
    extra: str = "",
    lock_file: str | None = LOCK_NAME,
) -> None:
    """app.py and a cdk.json that runs it (with this interpreter) in lock mode."""
    (directory / "app.py").write_text(
        APP.format(region=REGION, golden=golden, service=service, extra=extra)
    )
    context = {LOCK_FILE_CONTEXT: lock_file} if lock_file else {}
    settings = {"app": f"{shlex.quote(sys.executable)} app.py", "context": context}
    (directory / "cdk.json").write_text(json.dumps(settings))


def ago(**delta: float) -> str:
    """A ``dateCreated`` this long before now, as the service writes it."""
    moment = datetime.now(timezone.utc) - timedelta(**delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def catalogue(fake: FakeImageBuilder) -> FakeImageBuilder:
    """Amazon's base image, an own golden image (1.3.0, and a 2.0.0) and a container image."""
    add_build(
        fake,
        "Amazon Linux 2023 x86",
        "2026.11.14",
        "ami-0c6f2d3b4e5a61728",
        ago(days=15),
        owner="Amazon",
    )
    add_build(fake, "golden", "1.3.0", "ami-0d7a3e4c5f6b72839", ago(days=30))
    add_build(fake, "golden", "2.0.0", "ami-0f9c5a6e7b8d9405b", ago(days=1))
    fake.add("service", "3.1.0", image_type="DOCKER")
    return fake


def lock_of(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((directory / LOCK_NAME).read_text())
    return document


def synthesize(cli: Cli, directory: Path, outdir: Path, **context: Any) -> dict[str, Any]:
    """Run the app as ``cdk synth`` would (not discovering): the lock file is read."""
    settings = json.loads((directory / "cdk.json").read_text())
    env = {
        **cli.env,
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps({**settings["context"], **context}),
    }
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=directory, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    template: dict[str, Any] = json.loads((outdir / "Prod.template.json").read_text())
    return template


def test_lock_writes_every_pin_and_leaves_an_unchanged_lock_byte_identical(
    cli: Cli, catalogue: FakeImageBuilder, tmp_path: Path
) -> None:
    write_app(tmp_path)
    checked = cli("lock", "--check")
    assert checked.returncode == 3, checked.stderr
    assert not (tmp_path / LOCK_NAME).exists()  # --check writes nothing

    written = cli("lock")
    assert written.returncode == 0, written.stderr
    assert written.stderr == ""
    text = (tmp_path / LOCK_NAME).read_text()
    document = lock_of(tmp_path)
    assert list(document["lookups"]) == ["Prod/Base", "Prod/Golden", "Prod/Service"]
    golden = document["lookups"]["Prod/Golden"]
    assert golden["query"] == {
        "ImageName": "golden",
        "VersionSelector": "1.x.x",
        "Owner": "Self",
        "Platform": "Linux",
        "RequireAmi": "true",
    }
    assert golden["stack"] == {"account": "123456789012", "region": REGION}
    assert sorted(golden["pin"]) == sorted(ATTRIBUTE_KEYS)
    assert golden["pin"]["AmiId"] == "ami-0d7a3e4c5f6b72839"
    assert golden["pin"]["BuildVersion"] == "1.3.0/1"
    service = document["lookups"]["Prod/Service"]
    assert service["query"]["RequireContainer"] == "true"
    assert service["pin"]["ContainerImageUri"].endswith(".amazonaws.com/service:3.1.0-1")
    assert document["lookups"]["Prod/Base"]["pin"]["ImageBuildVersionArn"] == (
        f"arn:aws:imagebuilder:{REGION}:aws:image/amazon-linux-2023-x86/2026.11.14/1"
    )
    assert written.stdout.count("| added |") == 3
    assert text == LockFile.parse(text, LOCK_NAME).render()  # sorted, deterministic

    modified = os.stat(tmp_path / LOCK_NAME).st_mtime_ns
    again = cli("lock")
    assert (again.returncode, again.stdout) == (0, f"{LOCK_NAME} is up to date (3 lookups).\n")
    assert (tmp_path / LOCK_NAME).read_text() == text
    assert os.stat(tmp_path / LOCK_NAME).st_mtime_ns == modified  # not even rewritten
    assert cli("lock", "--check").returncode == 0

    # what the app deploys now: the lock's literals
    template = synthesize(cli, tmp_path, tmp_path / "cdk.out")
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert "Custom::LatestImageBuild" not in types and "AWS::Lambda::Function" not in types
    (launch_template,) = [
        r for r in template["Resources"].values() if "LaunchTemplate" in r["Type"]
    ]
    assert launch_template["Properties"]["LaunchTemplateData"]["ImageId"] == "ami-0d7a3e4c5f6b72839"
    assert template["Outputs"]["BaseArn"]["Value"].endswith("/2026.11.14/1")


def test_a_newer_build_rewrites_only_its_entry_and_reports_the_change(
    cli: Cli, catalogue: FakeImageBuilder, tmp_path: Path
) -> None:
    write_app(tmp_path)
    assert cli("lock").returncode == 0
    before = lock_of(tmp_path)
    text_before = (tmp_path / LOCK_NAME).read_text()
    add_build(catalogue, "golden", "1.4.0", "ami-0e8b4f5d6a7c8394a", ago(days=2, hours=1))

    checked = cli("lock", "--check")
    assert checked.returncode == 3
    assert (tmp_path / LOCK_NAME).read_text() == text_before
    changed = cli("lock")
    assert changed.returncode == 0, changed.stderr

    after = lock_of(tmp_path)
    assert after["lookups"]["Prod/Base"] == before["lookups"]["Prod/Base"]
    assert after["lookups"]["Prod/Service"] == before["lookups"]["Prod/Service"]
    assert after["lookups"]["Prod/Golden"]["pin"]["BuildVersion"] == "1.4.0/1"
    row = (
        "| `Prod/Golden` | re-pinned | golden | 1.3.0 → 1.4.0 | 1.3.0/1 → 1.4.0/1 | 2 days | "
        f"{REGION}: `ami-0d7a3e4c5f6b72839` → `ami-0e8b4f5d6a7c8394a` |"
    )
    assert changed.stdout == (
        f"`latest-image-build lock` changed 1 of the pins in `{LOCK_NAME}` (3 lookups):\n\n"
        "| lookup | change | image | version | build | age | AMI or container image (region) |\n"
        "|---|---|---|---|---|---|---|\n"
        f"{row}\n"
    )
    assert checked.stdout == changed.stdout.replace("` changed 1", "` would change 1")


def test_a_changed_query_is_found_while_its_entry_is_stale_and_gone_lookups_leave(
    cli: Cli, catalogue: FakeImageBuilder, tmp_path: Path
) -> None:
    write_app(tmp_path)
    assert cli("lock").returncode == 0
    write_app(tmp_path, golden="2.x.x", service=False)
    result = cli("lock")
    assert result.returncode == 0, result.stderr
    lookups = lock_of(tmp_path)["lookups"]
    assert sorted(lookups) == ["Prod/Base", "Prod/Golden"]
    assert lookups["Prod/Golden"]["query"]["VersionSelector"] == "2.x.x"
    assert lookups["Prod/Golden"]["pin"]["Version"] == "2.0.0"
    assert "| `Prod/Golden` | re-pinned | golden | 1.3.0 → 2.0.0 |" in result.stdout
    assert "| `Prod/Service` | removed | service | 3.1.0 → (removed) |" in result.stdout


def test_require_ami_is_checked_at_lock_time(
    cli: Cli, catalogue: FakeImageBuilder, tmp_path: Path
) -> None:
    # A 1.5.0 distributed to another region only (outputResources.amis, GetImage API reference)
    image = add_build(catalogue, "golden", "1.5.0", "ami-0123456789abcdef0", ago(days=3))
    image.builds[0].amis = [{**(image.builds[0].amis or [{}])[0], "region": "eu-central-1"}]
    write_app(tmp_path)
    line = one_line_failure(cli("lock"), 1)
    assert line == (
        "latest-image-build: Prod/Golden: build "
        f"arn:aws:imagebuilder:{REGION}:123456789012:image/golden/1.5.0/1 has no AMI in region "
        f"{REGION}; this lookup feeds an AMI (machine_image() or publish_parameter()): add "
        f"{REGION} to the image's distribution"
    )
    assert not (tmp_path / LOCK_NAME).exists()


def test_failures_are_one_line(cli: Cli, catalogue: FakeImageBuilder, tmp_path: Path) -> None:
    write_app(tmp_path, extra="raise ValueError('the app is broken')")
    line = one_line_failure(cli("lock"), 1)
    assert line.startswith("latest-image-build: the app command ")
    assert line.endswith("app.py' failed (exit 1): ValueError: the app is broken")

    write_app(tmp_path, lock_file=None)
    assert one_line_failure(cli("lock"), 1) == (
        "latest-image-build: the app is not in lock mode: set the context key "
        f"{LOCK_FILE_CONTEXT} (e.g. in cdk.json) or pass --lock-file"
    )

    write_app(tmp_path)
    (tmp_path / LOCK_NAME).write_text("<<<<<<< HEAD\n")
    assert one_line_failure(cli("lock", "--app", "nowhere/cdk.out"), 1).startswith(
        "latest-image-build: the app command nowhere/cdk.out failed (exit 127)"
    )
    assert one_line_failure(cli("lock"), 1) == (
        f"latest-image-build: lock file {LOCK_NAME} is not valid JSON (Expecting value, line 1): "
        "restore it, or delete it and run `latest-image-build lock`"
    )


def test_lock_file_option_and_a_synthesized_cloud_assembly(
    cli: Cli, catalogue: FakeImageBuilder, tmp_path: Path
) -> None:
    write_app(tmp_path, lock_file=None)  # the option puts the app in lock mode
    (tmp_path / "pins").mkdir()
    assert cli("lock", "--lock-file", "pins/prod.json").returncode == 0
    assert sorted(json.loads((tmp_path / "pins/prod.json").read_text())["lookups"]) == [
        "Prod/Base",
        "Prod/Golden",
        "Prod/Service",
    ]
    # `cdk synth` output in lock mode records the queries too: --check reads it, no app run
    synthesize(cli, tmp_path, tmp_path / "cdk.out", **{LOCK_FILE_CONTEXT: "pins/prod.json"})
    assert cli("lock", "--check", "--app", "cdk.out").returncode == 0
    add_build(catalogue, "golden", "1.4.0", "ami-0e8b4f5d6a7c8394a", ago(days=2))
    stale = cli("lock", "--check", "--app", "cdk.out")
    assert stale.returncode == 3
    assert "| `Prod/Golden` | re-pinned |" in stale.stdout


def test_a_lock_file_in_a_missing_folder_is_refused_naming_it(
    cli: Cli, catalogue: FakeImageBuilder, tmp_path: Path
) -> None:
    """A mistyped path fails in one line; the command never makes folders (issue 20 §5)."""
    write_app(tmp_path, lock_file=None)
    for args in (("lock",), ("lock", "--check")):
        line = one_line_failure(cli(*args, "--lock-file", "/nonexistent/dir/x.json"), 1)
        assert line == (
            "latest-image-build: cannot use lock file /nonexistent/dir/x.json: its folder "
            "/nonexistent/dir does not exist; create it, or name a lock file in an existing folder"
        )
    assert not Path("/nonexistent").exists()
    (tmp_path / "pins").write_text("a file, not a folder")
    line = one_line_failure(cli("lock", "--lock-file", "pins/prod.json"), 1)
    assert line.endswith(f"its folder {tmp_path / 'pins'} is not a folder; create it, or name a "
                         "lock file in an existing folder")  # fmt: skip
    write_app(tmp_path, lock_file="missing/images.lock.json")  # named by the app's context
    line = one_line_failure(cli("lock"), 1)
    assert f"its folder {tmp_path / 'missing'} does not exist" in line


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("AmiId", "{{resolve:ssm:/golden/ami}}"),
        ("ImageBuildVersionArn", "${Token[TOKEN.42]}"),
        ("ImageBuildVersionArn", f"arn:aws:imagebuilder:{REGION}:123456789012:image/other/1.3.0/1"),
    ],
)
def test_check_reports_a_hand_edited_entry_as_out_of_date(
    cli: Cli, catalogue: FakeImageBuilder, tmp_path: Path, key: str, value: str
) -> None:
    """README "Lock mode": an entry no deploy would pin is out of date (exit 3), and the lock
    command restores what the service answers."""
    write_app(tmp_path)
    assert cli("lock").returncode == 0
    document = lock_of(tmp_path)
    good = document["lookups"]["Prod/Golden"]["pin"][key]
    document["lookups"]["Prod/Golden"]["pin"][key] = value
    (tmp_path / LOCK_NAME).write_text(json.dumps(document, indent=2))
    checked = cli("lock", "--check")
    assert checked.returncode == 3, checked.stderr
    assert "| `Prod/Golden` | invalid, re-pinned | golden |" in checked.stdout
    assert f"- `Prod/Golden`: {key} " in checked.stdout
    assert cli("lock").returncode == 0
    assert lock_of(tmp_path)["lookups"]["Prod/Golden"]["pin"][key] == good
    assert cli("lock", "--check").returncode == 0
