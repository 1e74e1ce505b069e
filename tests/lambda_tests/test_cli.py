"""``python -m image_lookup``: prints what a deploy would pin, as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from local_endpoints.imagebuilder import FakeImageBuilder

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(LAMBDA_DIR))
    return subprocess.run(
        [sys.executable, "-m", "image_lookup", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_prints_the_same_data_a_deploy_would_pin(fake: FakeImageBuilder, invoke: Any) -> None:
    fake.add("Amazon Linux 2023 x86", "2026.1.0", owner="Amazon")
    fake.add("Amazon Linux 2023 x86", "2026.10.0", owner="Amazon")
    result = run_cli(
        "--name", "Amazon Linux 2023 x86", "--owner", "Amazon", "--region", "us-east-1"
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    deployed = invoke(ImageName="Amazon Linux 2023 x86", Owner="Amazon")["Data"]
    assert printed == deployed
    assert printed["Version"] == "2026.10.0"


def test_no_match_exits_1_with_one_line(fake: FakeImageBuilder) -> None:
    fake.add("golden", "1.0.0")
    result = run_cli("--name", "golden", "--version", "2.x.x")
    assert result.returncode == 1
    reason = [line for line in result.stderr.splitlines() if line.startswith("latest-image-build:")]
    assert len(reason) == 1
    assert "'2.x.x'" in reason[0] and "1.0.0" in reason[0]
    assert result.stdout == ""


def test_invalid_selector_exits_1_without_calls(fake: FakeImageBuilder) -> None:
    result = run_cli("--name", "golden", "--version", "1.x.3")
    assert result.returncode == 1
    assert "'1.x.3'" in result.stderr
    assert fake.calls == []


def test_gates_from_the_command_line(fake: FakeImageBuilder) -> None:
    image = fake.add("golden", "1.0.0", "AVAILABLE", "AVAILABLE")
    image.builds[0].tags = {"stage": "prod"}
    image.builds[0].date_created = "2020-02-14T19:46:16.904Z"
    result = run_cli("--name", "golden", "--require-tag", "stage=prod", "--min-age", "7d")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["BuildVersion"] == "1.0.0/1"
    bad = run_cli("--name", "golden", "--require-tag", "stage")
    assert bad.returncode == 1 and "'stage': use KEY=VALUE" in bad.stderr
