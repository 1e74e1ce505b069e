"""Run aws-cdk-lib's Provider framework ``onEvent`` (its code from the synthesized assembly)
on one CloudFormation request, the way CloudFormation invokes it, and read its answer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Protocol

from local_endpoints.response_bucket import ResponseBucket

DRIVER = Path(__file__).resolve().parent / "invoke_framework.js"


class FrameworkHarness(Protocol):
    """Where the framework's code is, how Node runs it, and where it PUTs its response."""

    @property
    def bucket(self) -> ResponseBucket: ...

    @property
    def framework_dir(self) -> Path: ...

    @property
    def framework_handler(self) -> str: ...

    @property
    def framework_env(self) -> dict[str, str]: ...


def deliver(harness: FrameworkHarness, event: dict[str, Any]) -> dict[str, Any]:
    """Run the framework's onEvent on ``event``; return the response it PUT."""
    puts_before = len(harness.bucket.puts)
    result = subprocess.run(
        ["node", str(DRIVER), str(harness.framework_dir), harness.framework_handler],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=harness.framework_env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    new_puts = harness.bucket.puts[puts_before:]
    assert len(new_puts) == 1, result.stdout + result.stderr
    put = new_puts[0]
    # the framework PUTs to the path and query of the URL CloudFormation gave it
    assert put.path == event["ResponseURL"].split(harness.bucket.host, 1)[1]
    assert len(put.body) < 4096
    document: dict[str, Any] = put.document()
    return document
