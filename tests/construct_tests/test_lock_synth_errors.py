"""What ``cdk synth`` shows when a locked app cannot synthesize: one line, no traceback.

README "Lock mode" promises a one-line failure naming the construct path and the command to
run (issue 20 §5). The CDK CLI runs cdk.json's ``app`` command with the context in
``CDK_CONTEXT_JSON`` and an output folder in ``CDK_OUTDIR`` (aws-cdk-lib cx-api), prints the
app's stderr and fails when the app exits non-zero. These tests run the app exactly so, and
once through the pinned CDK CLI itself.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from constructs_lib.lock_file import LOCK_FILE_CONTEXT
from tests.construct_tests.test_lock_mode import (
    ACCOUNT,
    GOLDEN_PIN,
    GOLDEN_QUERY,
    LOCK_NAME,
    REGION,
    write_lock,
)
from tests.support.synth import REPO

pytestmark = pytest.mark.synth

COMMAND = "latest-image-build lock"
APP = f"""
import aws_cdk as cdk
from constructs_lib import LatestImageBuild

app = cdk.App()
stack = cdk.Stack(app, "Prod", env=cdk.Environment(account="{ACCOUNT}", region="{REGION}"))
golden = LatestImageBuild(
    stack, "Golden", image_name="golden", version="{{golden}}", platform="Linux",
    protect_pinned_build={{protect}},
)
golden.machine_image()
app.synth()
"""


def write_app(directory: Path, *, golden: str = "1.x.x", protect: bool = False) -> None:
    (directory / "app.py").write_text(APP.format(golden=golden, protect=protect))
    settings = {
        "app": f"{shlex.quote(sys.executable)} app.py",
        "context": {LOCK_FILE_CONTEXT: LOCK_NAME},
    }
    (directory / "cdk.json").write_text(json.dumps(settings))


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "lambda"), str(REPO)])
    return env


def run_app(directory: Path) -> subprocess.CompletedProcess[str]:
    """The app as the CDK CLI starts it (`python3 app.py` with its context)."""
    env = {
        **environment(),
        "CDK_OUTDIR": str(directory / "cdk.out"),
        "CDK_CONTEXT_JSON": json.dumps({LOCK_FILE_CONTEXT: LOCK_NAME}),
    }
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_no_lock_file_is_one_line_on_stderr(tmp_path: Path) -> None:
    write_app(tmp_path)
    assert only_line(run_app(tmp_path)) == (
        f"LatestImageBuild Prod/Golden: no lock file {LOCK_NAME}; run `{COMMAND}` to pin it"
    )


def test_a_stale_entry_is_one_line_on_stderr(tmp_path: Path) -> None:
    write_app(tmp_path, golden="2.x.x")
    write_lock(tmp_path, {"Prod/Golden": (GOLDEN_QUERY, GOLDEN_PIN)})
    assert only_line(run_app(tmp_path)) == (
        f"LatestImageBuild Prod/Golden: its entry in lock file {LOCK_NAME} is stale "
        f'(VersionSelector "1.x.x" -> "2.x.x"); run `{COMMAND}` to re-pin it'
    )


def test_protection_and_an_invalid_value_are_one_line_on_stderr(tmp_path: Path) -> None:
    write_app(tmp_path, protect=True)
    line = only_line(run_app(tmp_path))
    assert line.startswith("LatestImageBuild Prod/Golden: protect_pinned_build=True tags")
    write_app(tmp_path)
    write_lock(tmp_path, {"Prod/Golden": (GOLDEN_QUERY, {**GOLDEN_PIN, "AmiId": "ami-1"})})
    assert only_line(run_app(tmp_path)).startswith(
        f"LatestImageBuild Prod/Golden: its entry in lock file {LOCK_NAME} is invalid: "
        "AmiId 'ami-1' is not an AMI id"
    )


def test_other_failures_keep_their_traceback(tmp_path: Path) -> None:
    """Only the library's lock-mode failures are shortened: a bug in the app still shows
    where it is."""
    write_app(tmp_path)
    write_lock(tmp_path, {"Prod/Golden": (GOLDEN_QUERY, GOLDEN_PIN)})
    app = tmp_path / "app.py"
    app.write_text(app.read_text().replace("app.synth()", "raise KeyError('bug')"))
    result = run_app(tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "KeyError: 'bug'" in result.stderr


def test_cdk_synth_shows_the_one_line_first(tmp_path: Path) -> None:
    """The pinned CDK CLI (node_modules/.bin/cdk, on PATH under scripts/in-env)."""
    write_app(tmp_path)
    result = subprocess.run(
        ["cdk", "synth", "--no-notices", "--quiet"],
        cwd=tmp_path,
        env={**environment(), "CDK_DISABLE_CLI_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0] == (
        f"LatestImageBuild Prod/Golden: no lock file {LOCK_NAME}; run `{COMMAND}` to pin it"
    )
