"""``check`` over one deployed stack with 30 lookups: calls by operation, and seconds.

``python -m bench.check_bench`` prints one JSON object. The stack lives in moto's
CloudFormation (set up as in tests/cli_tests/deployed_stacks.py: moto cannot run the
custom resource's Lambda) and the images in the local Image Builder; EC2 (moto) holds
the AMIs of the lookups that require one. The 30 lookups: 10 of Amazon's image, 10 own
images with ``RequireAmi``, 10 own images gated on ``stage=prod`` (every build listed);
each own image has 10 versions of 2 builds, and a third of the pins are stale.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from local_endpoints.imagebuilder import FakeImageBuilder
from local_endpoints.moto_services import MotoServices
from tests.cli_tests.deployed_stacks import deploy, lookup_resource, register_ami

ROOT = Path(__file__).resolve().parents[1]
STACK = "Bench30"
GROUPS = 3
PER_GROUP = 10
VERSIONS = 10
RUNS = 3


def catalogue(fake: FakeImageBuilder, moto: MotoServices) -> dict[str, Any]:
    """Images and a template of 30 lookups; returns the template and the pins."""
    resources: dict[str, Any] = {}
    pins: dict[str, str] = {}
    amazon = [fake.add("Amazon Linux 2023 x86", f"2026.{n}.0", owner="Amazon") for n in range(3)]
    for index in range(PER_GROUP):
        logical_id = f"Amazon{index}"
        resources[logical_id] = lookup_resource(
            STACK, logical_id, ImageName="amazon-linux-2023-x86", Owner="Amazon"
        )
        pinned = amazon[-1] if index % 3 else amazon[0]  # a third stale
        pins[logical_id] = pinned.build_arn(pinned.builds[0])
    for group, extra in (
        ("Ami", {"RequireAmi": "true"}),
        ("Gated", {"RequireTags": {"stage": "prod"}}),
    ):
        for index in range(PER_GROUP):
            name = f"{group.lower()}-{index}"
            versions = []
            for minor in range(VERSIONS):
                image = fake.add(name, f"1.{minor}.0", "AVAILABLE", "AVAILABLE")
                for build in image.builds:
                    build.tags = {"stage": "prod"}
                versions.append(image)
            newest = versions[-1]
            if group == "Ami":
                newest.builds[1].amis = [
                    {"region": "us-east-1", "image": register_ami(moto, f"{name} 1.9.0/2")}
                ]
            logical_id = f"{group}{index}"
            resources[logical_id] = lookup_resource(
                STACK, logical_id, ImageName=name, VersionSelector="1.x.x", **extra
            )
            build = newest.builds[1] if index % 3 else newest.builds[0]  # a third stale
            if group == "Ami" and not index % 3:
                build.amis = [{"region": "us-east-1", "image": register_ami(moto, name)}]
            pins[logical_id] = newest.build_arn(build)
    return {"template": {"Resources": resources}, "pins": pins}


def in_process(fake: FakeImageBuilder) -> dict[str, Any]:
    """One ``check`` in this process, every HTTP request counted by service and operation."""
    from latest_image_build_cli.aws_session import sdk_session
    from latest_image_build_cli.main import main

    requests: Counter[str] = Counter()

    def count(event_name: str, **_kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        requests[f"{service}:{operation}"] += 1

    sdk_session().events.register("before-send", count)
    fake.calls.clear()
    output = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(output):
        code = main(["check", "--stack", STACK, "--format", "json"])
    seconds = time.perf_counter() - started
    sdk_session().events.unregister("before-send", count)
    report = json.loads(output.getvalue())
    assert fake.count() == sum(n for k, n in requests.items() if k.startswith("imagebuilder:"))
    return {
        "exit_code": code,
        "seconds": seconds,
        "calls": dict(sorted(requests.items())),
        "summary": report["summary"],
    }


def as_command(env: dict[str, str]) -> float:
    """Wall time of ``latest-image-build check`` as a user runs it (a fresh interpreter)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "latest_image_build_cli", "check", "--stack", STACK],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - started


def main() -> None:
    """Print the measurements as JSON."""
    fake = FakeImageBuilder().start()
    moto = MotoServices().start()
    env = {**moto.client_environment(), **fake.client_environment()}
    os.environ.update(env)
    setup = catalogue(fake, moto)
    deploy(moto, STACK, setup["template"], setup["pins"])
    runs = [in_process(fake) for _ in range(RUNS)]
    command_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lambda"), str(ROOT)])}
    command = [as_command(command_env) for _ in range(RUNS)]
    moto.stop()
    fake.stop()
    calls = runs[0]["calls"]
    print(
        json.dumps(
            {
                "lookups": len(setup["pins"]),
                "exit_code": runs[0]["exit_code"],
                "summary": runs[0]["summary"],
                "calls": calls,
                "total_calls": sum(calls.values()),
                "in_process_seconds": statistics.median(r["seconds"] for r in runs),
                "command_seconds": statistics.median(command),
            }
        )
    )


def markdown(result: dict[str, Any]) -> list[str]:
    """The section for ``python -m bench``."""
    by_service: Counter[str] = Counter()
    for key, count in result["calls"].items():
        by_service[key.split(":")[0]] += count
    calls = ", ".join(f"{key} {count}" for key, count in result["calls"].items())
    return [
        "",
        f"## 7. `check` of one stack with {result['lookups']} lookups "
        f"(median of {RUNS}; local endpoints)",
        "",
        "| calls | by service | by operation | in-process | as a command |",
        "|---|---|---|---|---|",
        f"| {result['total_calls']} | "
        + ", ".join(f"{service} {count}" for service, count in sorted(by_service.items()))
        + f" | {calls} | {result['in_process_seconds']:.2f} s | "
        f"{result['command_seconds']:.2f} s |",
        "",
        f"Verdicts: {result['summary']} (exit {result['exit_code']}).",
    ]


if __name__ == "__main__":
    main()
