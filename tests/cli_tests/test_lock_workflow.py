"""README "Pin by review": the scheduled job's shell steps, run against the local Image Builder,
and the example's committed lock file, which ``lock`` still reproduces."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (pinned in constraints.txt, via cfn-lint) ships no stubs

from constructs_lib.lock_file import LOCK_FILE_CONTEXT
from example.locked_app import LOCK_FILE
from local_endpoints.imagebuilder import FakeImageBuilder
from tests.cli_tests.conftest import ROOT, Cli
from tests.cli_tests.test_lock import ago
from tests.support.example_images import AMAZON_BASE, add_build, seed_example_images

pytestmark = pytest.mark.synth

EXAMPLE_APP = f"{shlex.quote(sys.executable)} -m example.locked_app"


def readme_job() -> dict[str, Any]:
    """The job of the YAML workflow in README's "Pin by review" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Pin by review")[1].split("\n## ")[0]
    workflows = [
        block for block in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL) if "jobs:" in block
    ]
    (workflow,) = workflows
    jobs = yaml.safe_load(workflow)["jobs"]
    (job,) = jobs.values()
    assert isinstance(job, dict)
    return job


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return result.stdout


def run_steps(commands: list[str], repo: Path, env: dict[str, str]) -> None:
    """Each ``run`` as GitHub runs it on Linux without ``shell``: ``bash -e {0}`` (workflow
    syntax reference, ``jobs.<job_id>.steps[*].shell``)."""
    for command in commands:
        result = subprocess.run(
            ["bash", "-e", "-c", command], cwd=repo, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])


def test_the_readme_job_opens_a_pull_request_only_when_a_pin_changes(
    cli: Cli, fake: FakeImageBuilder, tmp_path: Path
) -> None:
    job = readme_job()
    steps = job["steps"]
    commands = [step["run"] for step in steps if "latest-image-build" in step.get("run", "")]
    assert commands, "the job runs the command"
    (pull_request,) = [
        step
        for step in steps
        if step.get("uses", "").startswith("peter-evans/create-pull-request@")
    ]
    lock_path = pull_request["with"]["add-paths"]

    # The repository as actions/checkout leaves it: an app in lock mode and its committed lock.
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / LOCK_FILE, repo / lock_path)
    settings = {"app": EXAMPLE_APP, "context": {LOCK_FILE_CONTEXT: lock_path}}
    (repo / "cdk.json").write_text(json.dumps(settings))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-qm", "app")

    # The runner: its temp folder, step summary, and the installed command on PATH.
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "latest-image-build").write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m latest_image_build_cli "$@"\n'
    )
    (tools / "latest-image-build").chmod(0o755)
    summary = tmp_path / "step-summary.md"
    env = {
        **cli.env,
        "PATH": f"{tools}:{cli.env['PATH']}",
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    body_path = Path(
        pull_request["with"]["body-path"].replace("${{ runner.temp }}", str(runner_temp))
    )

    seed_example_images(fake)  # what the lock was written from: nothing newer
    run_steps(commands, repo, env)
    assert git(repo, "status", "--porcelain") == ""  # no change: the action opens nothing
    assert body_path.read_text() == f"{lock_path} is up to date (2 lookups).\n"

    add_build(
        fake,
        AMAZON_BASE,
        "2026.11.27",
        "ami-0a1b2c3d4e5f60718",
        ago(days=2, hours=3),
        owner="Amazon",
    )
    run_steps(commands, repo, env)
    assert git(repo, "status", "--porcelain") == f" M {lock_path}\n"  # what add-paths commits
    body = body_path.read_text()
    print(body)  # the pull request's body, for the record
    assert body.startswith(
        f"`latest-image-build lock` changed 1 of the pins in `{lock_path}` (2 lookups):\n\n"
    )
    assert (
        "| `GoldenImagePipelineProd/BaseImage` | re-pinned | Amazon Linux 2023 x86 | "
        "2026.11.14 → 2026.11.27 | 2026.11.14/1 → 2026.11.27/1 | 2 days | "
        "us-east-1: `ami-0c6f2d3b4e5a61728` → `ami-0a1b2c3d4e5f60718` |"
    ) in body.splitlines()
    assert summary.read_text().endswith(body)
    diff = git(repo, "diff", "--unified=0", lock_path)
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    # only BaseImage's build-specific attributes, each line old and new
    assert sorted({line.split('"')[1] for line in changed}) == [
        "AmiId",
        "BuildVersion",
        "DateCreated",
        "ImageBuildVersionArn",
        "ImageVersionArn",
        "Version",
    ]
    assert len(changed) == 12


def test_the_example_lock_is_what_lock_writes_for_its_catalogue(
    cli: Cli, fake: FakeImageBuilder
) -> None:
    seed_example_images(fake)
    result = Cli(cli.env, ROOT)("lock", "--check", "--app", EXAMPLE_APP)
    assert (result.returncode, result.stdout) == (0, f"{LOCK_FILE} is up to date (2 lookups).\n")
