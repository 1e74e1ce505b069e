"""``check --accounts`` over a fleet: wall time vs concurrency, calls per account, peak memory.

``python -m bench.fleet_check_bench [--accounts 200] [--regions 2] [--stacks 5]
[--concurrency 8,16,32,64]`` prints one JSON object. The fleet lives in moto's server (one
backend per account; STS AssumeRole credentials act in the role's account), set up as in
tests/cli_tests/deployed_stacks.py: each workload account holds ``--stacks`` stacks of one
lookup in each region, pinning a factory account's shared image (half of them its older
build: stale), and a copy of each build's AMI registered in its EC2 (moto); the image, with
one AMI per account and region in its outputResources as a distribution to that many
accounts lists them, comes from the local Image Builder. Each run is
``latest-image-build check --accounts ... --regions ... --format json`` in a fresh process,
as a user runs it; its peak RSS is the child's ``ru_maxrss`` (``os.wait4``).

Within one account the command paces its calls (``fleet_check.ACCOUNT_CALLS_PER_SECOND``),
so an account takes a few seconds whatever the concurrency; the wall time should fall as
accounts divided by the concurrency, until moto (one process, this machine's CPUs) is the
bottleneck.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from latest_image_build_cli.fleet_check import ACCOUNT_CALLS_PER_SECOND
from local_endpoints.imagebuilder import FakeImageBuilder
from local_endpoints.moto_services import MotoServices
from tests.cli_tests.deployed_stacks import client, deploy, lookup_resource

ROOT = Path(__file__).resolve().parents[1]
FACTORY = "111122223333"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2")


#: Runs the command and reports its peak resident set (VmHWM of /proc/self/status, which,
#: unlike ru_maxrss, does not carry the forking parent's pages over the exec) on stderr.
PEAK_WRAPPER = """
import atexit, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("\\npeak " + line.split()[1] + " kB\\n")
atexit.register(peak)
sys.argv[0] = "latest-image-build"
from latest_image_build_cli.main import main
sys.exit(main())
"""


def account_ids(count: int) -> list[str]:
    """``300000000001`` ... : the workload accounts."""
    return [f"3{n:011d}" for n in range(1, count + 1)]


def build_fleet(
    fake: FakeImageBuilder, moto: MotoServices, accounts: list[str], regions: tuple[str, ...],
    stacks: int,
) -> float:  # fmt: skip
    """Deploy the fleet; return the seconds it took."""
    started = time.perf_counter()
    old = fake.add("golden", "1.0.0", owner="Shared", owner_account=FACTORY)
    new = fake.add("golden", "1.1.0", owner="Shared", owner_account=FACTORY)
    amis: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for account in accounts:
        for region in regions:
            ec2 = client(moto, "ec2", account, region)
            cloudformation = client(moto, "cloudformation", account, region)
            for key, image in (("old", old), ("new", new)):
                image_id = ec2.register_image(
                    Name=f"golden {image.version}", RootDeviceName="/dev/xvda"
                )["ImageId"]
                amis[key].append({"region": region, "image": image_id, "accountId": account,
                                  "state": {"status": "AVAILABLE"}})  # fmt: skip
            for index in range(stacks):
                name = f"Workload{index}"
                resource = lookup_resource(
                    name, "Base", ImageName="golden", Owner="Shared", ImageAccount=FACTORY,
                    Region=regions[0],
                )  # fmt: skip
                pinned = old if index % 2 else new
                deploy(moto, name, {"Resources": {"Base": resource}},
                       {"Base": pinned.build_arn(pinned.builds[0])},
                       account=account, region=region, cloudformation=cloudformation)  # fmt: skip
    old.builds[0].amis = amis["old"]
    new.builds[0].amis = amis["new"]
    return time.perf_counter() - started


def run_check(
    env: dict[str, str], accounts: list[str], regions: tuple[str, ...], concurrency: int
) -> dict[str, Any]:
    """One ``check`` of the fleet in a fresh process: seconds, peak RSS, calls per account."""
    command = [
        sys.executable, "-c", PEAK_WRAPPER, "check",
        "--accounts", ",".join(accounts), "--regions", ",".join(regions),
        "--concurrency", str(concurrency), "--format", "json", "--timeout", "300",
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    stdout, stderr = result.stdout, result.stderr
    peak_kib = int(stderr.rsplit("peak ", 1)[1].split()[0])
    seconds = time.perf_counter() - started
    report = json.loads(stdout)
    calls = [entry["calls"] for entry in report["accounts"]]
    return {
        "concurrency": concurrency,
        "seconds": round(seconds, 1),
        "exit_code": report["exit_code"],
        "summary": report["summary"],
        "calls_per_account": {"median": statistics.median(calls), "max": max(calls)},
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "stderr": stderr.rsplit("peak ", 1)[0].strip()[-300:],
    }


def main() -> None:
    """Print the measurements as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--stacks", type=int, default=5)
    parser.add_argument("--concurrency", default="8,16,32,64")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    fake = FakeImageBuilder().start()
    moto = MotoServices().start()
    accounts = account_ids(args.accounts)
    regions = REGIONS[: args.regions]
    setup_seconds = build_fleet(fake, moto, accounts, regions, args.stacks)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **moto.client_environment(),
        **fake.client_environment(),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "lambda"), str(ROOT)]),
    }
    runs = [run_check(env, accounts, regions, int(level)) for level in args.concurrency.split(",")]
    moto.stop()
    fake.stop()
    print(
        json.dumps(
            {
                "accounts": len(accounts),
                "regions": list(regions),
                "stacks_per_account_region": args.stacks,
                "lookups": len(accounts) * len(regions) * args.stacks,
                "pace_calls_per_second_per_account": ACCOUNT_CALLS_PER_SECOND,
                "setup_seconds": round(setup_seconds, 1),
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
