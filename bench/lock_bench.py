"""``lock`` of an app with 30 lookups (calls by operation, seconds), and one stack's template in
lock mode vs deploy mode (bytes, resources, Lambda functions).

``python -m bench.lock_bench`` prints one JSON object. The app (written to a temporary
folder, run as ``cdk synth`` would run it) has one stack of 30 lookups, as in
``bench/check_bench.py``: 10 of Amazon's image (one query, so resolved once), 10 own images
feeding ``machine_image()`` (``RequireAmi``), 10 own images gated on ``stage=prod`` (every
build listed); each own image has 10 versions of 2 builds, in the local Image Builder.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from constructs_lib.lock_file import DISCOVERY_CONTEXT, LOCK_FILE_CONTEXT
from local_endpoints.imagebuilder import REGION, FakeImageBuilder

ROOT = Path(__file__).resolve().parents[1]
PER_GROUP = 10
VERSIONS = 10
RUNS = 3
LOCK_NAME = "images.lock.json"
APP = """
import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs_lib import ImageOwner, LatestImageBuild

app = cdk.App()
stack = cdk.Stack(app, "Bench", env=cdk.Environment(region="{region}"))
for index in range({per_group}):
    if index < {count}:
        base = LatestImageBuild(
            stack, f"Amazon{{index}}", image_name="amazon-linux-2023-x86", owner=ImageOwner.AMAZON
        )
        cdk.CfnOutput(stack, f"Base{{index}}", value=base.image_build_version_arn)
    if index + {per_group} < {count}:
        golden = LatestImageBuild(
            stack, f"Ami{{index}}", image_name=f"ami-{{index}}", version="1.x.x", platform="Linux"
        )
        ec2.LaunchTemplate(stack, f"Template{{index}}", machine_image=golden.machine_image())
    if index + 2 * {per_group} < {count}:
        gated = LatestImageBuild(
            stack, f"Gated{{index}}", image_name=f"gated-{{index}}", version="1.x.x",
            require_tags={{"stage": "prod"}},
        )
        cdk.CfnOutput(stack, f"Gated{{index}}Arn", value=gated.image_build_version_arn)
app.synth()
"""


def catalogue(fake: FakeImageBuilder) -> None:
    """Amazon's image in 3 versions; 20 own images of 10 versions of 2 builds each."""
    for minor in range(3):
        fake.add("Amazon Linux 2023 x86", f"2026.{minor}.0", owner="Amazon")
    for group in ("ami", "gated"):
        for index in range(PER_GROUP):
            for minor in range(VERSIONS):
                image = fake.add(f"{group}-{index}", f"1.{minor}.0", "AVAILABLE", "AVAILABLE")
                for build in image.builds:
                    build.tags = {"stage": "prod"}


def write_app(directory: Path, count: int, locked: bool) -> None:
    (directory / "app.py").write_text(APP.format(region=REGION, per_group=PER_GROUP, count=count))
    context = {LOCK_FILE_CONTEXT: LOCK_NAME} if locked else {}
    settings = {"app": f"{shlex.quote(sys.executable)} app.py", "context": context}
    (directory / "cdk.json").write_text(json.dumps(settings))


def timed(command: list[str], directory: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    assert result.returncode in (0, 3), result.stderr[-2000:]
    return seconds


def synthesize(directory: Path, env: dict[str, str], **context: Any) -> Path:
    """Run the app as ``cdk synth`` does; return the assembly folder."""
    outdir = Path(tempfile.mkdtemp(prefix="bench-lock-"))
    settings = json.loads((directory / "cdk.json").read_text())
    run_env = {
        **env,
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps({**settings["context"], **context}),
    }
    timed([sys.executable, "app.py"], directory, run_env)
    return outdir


def template_figures(assembly: Path) -> dict[str, int]:
    path = assembly / "Bench.template.json"
    resources = json.loads(path.read_text()).get("Resources", {}).values()
    return {
        "template_bytes": path.stat().st_size,
        "resources": len(resources),
        "functions": sum(r["Type"] == "AWS::Lambda::Function" for r in resources),
        "custom_resources": sum(r["Type"] == "Custom::LatestImageBuild" for r in resources),
    }


def main() -> None:
    """Print the measurements as JSON."""
    fake = FakeImageBuilder().start()
    catalogue(fake)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(fake.client_environment())
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lambda"), str(ROOT)])
    lock = [sys.executable, "-m", "latest_image_build_cli", "lock"]
    directory = Path(tempfile.mkdtemp(prefix="bench-lock-app-"))
    write_app(directory, 3 * PER_GROUP, locked=True)

    first, unchanged, resolve_only, app_only = [], [], [], []
    calls: dict[str, int] = {}
    for _ in range(RUNS):
        (directory / LOCK_NAME).unlink(missing_ok=True)
        fake.calls.clear()
        first.append(timed(lock, directory, env))
        calls = dict(sorted(fake.counts().items()))
        unchanged.append(timed(lock, directory, env))
        started = time.perf_counter()
        discovered = synthesize(directory, env, **{DISCOVERY_CONTEXT: "true"})
        app_only.append(time.perf_counter() - started)
        resolve_only.append(timed([*lock, "--check", "--app", str(discovered)], directory, env))
    lookups = len(json.loads((directory / LOCK_NAME).read_text())["lookups"])

    templates: dict[str, dict[str, dict[str, int]]] = {}
    for count in (1, 3 * PER_GROUP):
        write_app(directory, count, locked=True)
        timed(lock, directory, env)
        locked = template_figures(synthesize(directory, env))
        write_app(directory, count, locked=False)
        deployed = template_figures(synthesize(directory, env))
        templates[str(count)] = {"lock": locked, "deploy": deployed}
    fake.stop()
    print(
        json.dumps(
            {
                "lookups": lookups,
                "calls": calls,
                "total_calls": sum(calls.values()),
                "lock_seconds": statistics.median(first),
                "unchanged_lock_seconds": statistics.median(unchanged),
                "app_synth_seconds": statistics.median(app_only),
                "resolve_from_assembly_seconds": statistics.median(resolve_only),
                "runs": RUNS,
                "templates": templates,
            }
        )
    )


if __name__ == "__main__":
    main()
