"""``latest-image-build lock`` of an app whose stacks deploy to several accounts and regions
(issue 21 §4): each lookup is resolved for its own stack's environment, and the lock records
which environment each pin is for.

A factory account shares one build and distributes it (Image Builder GetImage API reference,
``outputResources.amis[]``: ``region``, ``image``, ``accountId``) to two workload accounts
in us-east-1 and to one of them in eu-west-1. Each stack pins the AMI its own account
launches in its own region: its own copy, else the owner's.
"""

from __future__ import annotations

import json
import shlex
import socket
import sys
from pathlib import Path

import pytest

from constructs_lib.lock_file import LOCK_FILE_CONTEXT
from local_endpoints.imagebuilder import FakeImageBuilder
from tests.cli_tests.conftest import Cli, one_line_failure

pytestmark = pytest.mark.synth

FACTORY = "210987654321"
WORKLOAD_A = "111111111111"
WORKLOAD_B = "222222222222"
LOCK_NAME = "images.lock.json"
APP = f"""
import aws_cdk as cdk
from constructs_lib import ImageOwner, LatestImageBuild

app = cdk.App()
for name, account, region in (
    ("ProdA", "{WORKLOAD_A}", "us-east-1"),
    ("ProdB", "{WORKLOAD_B}", "us-east-1"),
    ("ProdAEurope", "{WORKLOAD_A}", "eu-west-1"),
):
    stack = cdk.Stack(app, name, env=cdk.Environment(account=account, region=region))
    golden = LatestImageBuild(
        stack, "Golden", image_name="golden", version="1.x.x", owner=ImageOwner.SHARED,
        image_account="{FACTORY}", region="us-east-1",
    )
    cdk.CfnOutput(stack, "Ami", value=golden.ami_id)
app.synth()
"""


def ami(region: str, image: str, account: str) -> dict[str, str]:
    return {"region": region, "image": image, "accountId": account}


def shared_build(fake: FakeImageBuilder, directory: Path) -> None:
    """The factory's build, distributed to the workload accounts; the app in ``directory``."""
    image = fake.add("golden", "1.4.0", owner="Shared", owner_account=FACTORY)
    image.builds[0].amis = [
        ami("us-east-1", "ami-0f0f0f0f0f0f0f0f0", FACTORY),
        ami("us-east-1", "ami-0a0a0a0a0a0a0a0a0", WORKLOAD_A),
        ami("us-east-1", "ami-0b0b0b0b0b0b0b0b0", WORKLOAD_B),
        ami("eu-west-1", "ami-0e0e0e0e0e0e0e0e0", WORKLOAD_A),
    ]
    (directory / "app.py").write_text(APP)
    settings = {
        "app": f"{shlex.quote(sys.executable)} app.py",
        "context": {LOCK_FILE_CONTEXT: LOCK_NAME},
    }
    (directory / "cdk.json").write_text(json.dumps(settings))


def test_each_stack_pins_the_ami_of_its_own_account_and_region(
    cli: Cli, fake: FakeImageBuilder, tmp_path: Path
) -> None:
    shared_build(fake, tmp_path)
    result = cli("lock")
    assert result.returncode == 0, result.stderr
    lookups = json.loads((tmp_path / LOCK_NAME).read_text())["lookups"]
    pinned = {path: (entry["stack"], entry["pin"]["AmiId"]) for path, entry in lookups.items()}
    assert pinned == {
        "ProdA/Golden": ({"account": WORKLOAD_A, "region": "us-east-1"}, "ami-0a0a0a0a0a0a0a0a0"),
        "ProdB/Golden": ({"account": WORKLOAD_B, "region": "us-east-1"}, "ami-0b0b0b0b0b0b0b0b0"),
        "ProdAEurope/Golden": (
            {"account": WORKLOAD_A, "region": "eu-west-1"},
            "ami-0e0e0e0e0e0e0e0e0",
        ),
    }
    build_arn = f"arn:aws:imagebuilder:us-east-1:{FACTORY}:image/golden/1.4.0/1"
    assert {entry["pin"]["ImageBuildVersionArn"] for entry in lookups.values()} == {build_arn}
    # one build, but a lookup per environment: the entries differ only by stack and AMI
    assert result.stdout.count("| added |") == 3
    assert cli("lock", "--check").returncode == 0


def test_role_name_resolves_each_stack_with_the_role_in_its_account(
    stack_cli: Cli, fake: FakeImageBuilder, tmp_path: Path
) -> None:
    """As `check --role-name` does: STS AssumeRole of arn:aws:iam::<stack account>:role/NAME
    (moto's STS), once per account; each lookup's log line names the role it ran with."""
    shared_build(fake, tmp_path)
    result = stack_cli("lock", "--role-name", "LockRead", "--verbose")
    assert result.returncode == 0, result.stderr
    roles = {
        record["construct_path"]: record["role"]
        for record in map(json.loads, result.stderr.splitlines())
    }
    assert roles == {
        "ProdA/Golden": f"arn:aws:iam::{WORKLOAD_A}:role/LockRead",
        "ProdAEurope/Golden": f"arn:aws:iam::{WORKLOAD_A}:role/LockRead",
        "ProdB/Golden": f"arn:aws:iam::{WORKLOAD_B}:role/LockRead",
    }
    lookups = json.loads((tmp_path / LOCK_NAME).read_text())["lookups"]
    assert lookups["ProdB/Golden"]["pin"]["AmiId"] == "ami-0b0b0b0b0b0b0b0b0"

    with socket.socket() as probe:  # STS unreachable: the first lookup's role fails, one line
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    line = one_line_failure(
        stack_cli("lock", "--check", "--role-name", "LockRead", AWS_ENDPOINT_URL_STS=closed), 1
    )
    assert line.startswith(
        f"latest-image-build: ProdA/Golden: cannot assume arn:aws:iam::{WORKLOAD_A}:role/LockRead: "
    )
    line = one_line_failure(stack_cli("lock", "--role-name", "no role"), 2)
    assert "--role-name" in line and "'no role'" in line
