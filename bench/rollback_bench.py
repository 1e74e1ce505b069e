"""A 200-lookup stack rolled back at once, its account limited to a few calls a second.

``python -m bench.rollback_bench [LOOKUPS] [TPS] [CLOUDFORMATION_TPS]`` prints one JSON
object. The stack (``local_endpoints/cloudformation.py``: DescribeStackEvents newest first,
100 events a page, Throttling over HTTP 400 from an account-wide token bucket) holds the
history CloudFormation writes for it: the Create of LOOKUPS lookups pinning B1 (three events
each), an update that moved every lookup to B2 (two each) and failed on a later resource,
and the rollback's start (one UPDATE_IN_PROGRESS per lookup, as CloudFormation writes it
when it sends the lookup its rollback Update). Then every lookup's rollback Update arrives
at once, as CloudFormation sends them, each to its own handler invocation (threads in
``WORKERS`` processes, as in ``bench.burst``) with ``LATEST_IMAGE_BUILD_LOOKUPS`` set as the
construct sets it. Image Builder (GetImage of B1) is limited to TPS calls a second,
CloudFormation to CLOUDFORMATION_TPS (default TPS); neither publishes its read rate.

While the rollback runs, CloudFormation writes each lookup's UPDATE_COMPLETE as it answers
(the workers report each answer; the endpoint's process appends the event), so the lookups
that answer last page through the others' completions too, as in a real account.

A lookup is "restored" when it answers B1, "kept" when it answers the B2 it had (the
documented fallback when the previous build cannot be read in time), "failed" when it
raises (a rollback that fails: never expected).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.invocations import BenchContext, prepare_worker, run_at_start
from image_lookup.contract import HANDLER_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "golden"
REGION = "us-east-1"
ACCOUNT = "123456789012"
B1 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/{IMAGE}/1.0.0/1"
B2 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/{IMAGE}/1.0.0/2"
GOOD_SYNTH = "1733000000000000000"
FAILED_SYNTH = "1733000600000000000"
WORKERS = 4
#: A lookup's Lambda timeout (the construct's HANDLER_TIMEOUT): a rollback may use all of it.
TIMEOUT_SECONDS = float(HANDLER_TIMEOUT_SECONDS)
LOOKUPS_ENV = "LATEST_IMAGE_BUILD_LOOKUPS"


def serve(lookups: int, tps: float, cloudformation_tps: float) -> None:
    """Serve both endpoints; print their addresses, then their counts when stdin closes."""
    from local_endpoints.cloudformation import FakeCloudFormation
    from local_endpoints.imagebuilder import FakeImageBuilder

    imagebuilder = FakeImageBuilder(rate_limit_tps=tps)
    imagebuilder.add(IMAGE, "1.0.0", "AVAILABLE", "AVAILABLE")
    cloudformation = FakeCloudFormation(rate_limit_tps=cloudformation_tps)
    stack = cloudformation.add_stack("Rollback")
    ids = [f"Lookup{index}" for index in range(lookups)]
    stack.stack_status("CREATE_IN_PROGRESS")
    for logical_id in ids:
        stack.resource(logical_id, "", "CREATE_IN_PROGRESS")
    for logical_id in ids:
        stack.resource(logical_id, "", "CREATE_IN_PROGRESS")  # "Resource creation Initiated"
    for logical_id in ids:
        stack.resource(logical_id, B1, "CREATE_COMPLETE")
    stack.stack_status("CREATE_COMPLETE")
    stack.stack_status("UPDATE_IN_PROGRESS")
    for logical_id in ids:
        stack.resource(logical_id, B1, "UPDATE_IN_PROGRESS")
    for logical_id in ids:
        stack.resource(logical_id, B2, "UPDATE_COMPLETE")
    stack.resource("Fleet", "fleet", "UPDATE_FAILED", "AWS::AutoScaling::AutoScalingGroup")
    stack.stack_status("UPDATE_ROLLBACK_IN_PROGRESS")
    for logical_id in ids:
        stack.resource(logical_id, B2, "UPDATE_IN_PROGRESS")
    imagebuilder.start()
    cloudformation.start()
    print(
        json.dumps(
            {
                "imagebuilder": imagebuilder.url,
                "cloudformation": cloudformation.url,
                "stack_id": stack.stack_id,
                "events": len(stack.events),
            }
        ),
        flush=True,
    )
    for line in sys.stdin:  # "LogicalId PhysicalId": a lookup answered
        logical_id, _, physical_id = line.strip().partition(" ")
        if physical_id:
            stack.resource(logical_id, physical_id, "UPDATE_COMPLETE")
    imagebuilder.stop()
    cloudformation.stop()
    counts = {
        "events_at_end": len(stack.events),
        "cloudformation_calls": cloudformation.count(),
        "cloudformation_throttled": cloudformation.throttled,
        "cloudformation_by_action": dict(cloudformation.calls),
        "imagebuilder_calls": imagebuilder.count(),
        "imagebuilder_throttled": imagebuilder.throttled,
    }
    print(json.dumps(counts), flush=True)


def rollback_event(stack_id: str, logical_id: str) -> dict[str, Any]:
    """The rollback Update CloudFormation sends a lookup of the default refresh mode."""
    properties = {"ServiceToken": "arn:aws:lambda:::function:framework", "ImageName": IMAGE}
    return {
        "RequestType": "Update",
        "StackId": stack_id,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": B2,
        "ResourceType": "Custom::LatestImageBuild",
        "ResourceProperties": {**properties, "RefreshToken": GOOD_SYNTH},
        "OldResourceProperties": {**properties, "RefreshToken": FAILED_SYNTH},
    }


def worker(stack_id: str, first: int, count: int) -> None:
    """Run ``count`` invocations in threads from the start time read on stdin; print results."""
    from image_lookup.handler import on_event

    lines = prepare_worker()
    results: list[dict[str, Any]] = []
    print_lock = threading.Lock()

    def invoke(index: int, started: float) -> None:
        logical_id = f"Lookup{index}"
        outcome: dict[str, Any] = {"lookup": logical_id}
        try:
            context = BenchContext(started, TIMEOUT_SECONDS)
            answer = on_event(rollback_event(stack_id, logical_id), context)
            pin = answer["PhysicalResourceId"]
            outcome["outcome"] = {B1: "restored", B2: "kept"}.get(pin, f"other: {pin}")
            outcome["ami"] = bool(answer["Data"].get("AmiId"))
        except Exception as error:  # every failure is a figure here
            outcome.update(outcome="failed", error=str(error)[:200])
        outcome["seconds"] = time.time() - started
        results.append(outcome)
        if "ami" in outcome:
            with print_lock:  # CloudFormation records the answer
                print(f"{logical_id} {pin}", flush=True)

    run_at_start(invoke, range(first, first + count))
    for outcome in results:
        line = lines.get(outcome["lookup"], {})
        outcome["why"] = (
            "status unread" if "status_unread" in line else
            "events unread" if "events_unread" in line else ""
        )  # fmt: skip
    print(json.dumps(results), flush=True)


def _relay_answers(
    worker: subprocess.Popen[str], server: subprocess.Popen[str], lock: threading.Lock
) -> list[dict[str, Any]]:
    """Pass the worker's answers on to the endpoint as they come; return its outcomes."""
    assert worker.stdout is not None and server.stdin is not None
    for line in worker.stdout:
        if line.startswith("["):
            return list(json.loads(line))
        with lock:
            server.stdin.write(line)
            server.stdin.flush()
    raise RuntimeError("a bench worker ended without its outcomes")


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.rollback_bench", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _client_environment(endpoints: dict[str, Any], lookups: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL_IMAGEBUILDER=endpoints["imagebuilder"],
        AWS_ENDPOINT_URL_CLOUDFORMATION=endpoints["cloudformation"],
        # unreachable: an AMI-by-tag fallback fails at once instead of reaching AWS
        AWS_ENDPOINT_URL_EC2="http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=os.pathsep.join((str(ROOT / "lambda"), str(ROOT))),
    )
    env[LOOKUPS_ENV] = str(lookups)
    return env


def run(lookups: int = 200, tps: float = 5.0, cloudformation_tps: float = 5.0) -> dict[str, Any]:
    """Start the endpoints and the workers, send every rollback Update at once, gather figures."""
    server = _spawn("serve", str(lookups), str(tps), str(cloudformation_tps))
    assert server.stdin is not None and server.stdout is not None
    workers: list[subprocess.Popen[str]] = []
    try:
        endpoints = json.loads(server.stdout.readline())
        env = _client_environment(endpoints, lookups)
        share = -(-lookups // WORKERS)
        for first in range(0, lookups, share):
            count = min(share, lookups - first)
            workers.append(_spawn("worker", endpoints["stack_id"], str(first), str(count), env=env))
        for process in workers:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a bench worker failed to start")
        started = time.time() + 1.0
        for process in workers:
            assert process.stdin is not None
            process.stdin.write(f"{started}\n")
            process.stdin.flush()
        relay_lock = threading.Lock()
        with ThreadPoolExecutor(len(workers)) as pool:
            relays = [
                pool.submit(_relay_answers, process, server, relay_lock) for process in workers
            ]
            outcomes = [o for relay in relays for o in relay.result(timeout=TIMEOUT_SECONDS + 60)]
        for process in workers:
            process.wait(timeout=30)
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
        server.stdin.close()
        counts = json.loads(server.stdout.readline())
        server.wait(timeout=30)
    seconds = sorted(o["seconds"] for o in outcomes)
    by_outcome = {name: sum(1 for o in outcomes if o["outcome"] == name) for name in
                  ("restored", "kept", "failed")}  # fmt: skip
    return {
        "lookups": lookups,
        "tps": tps,
        "cloudformation_tps": cloudformation_tps,
        "events": endpoints["events"],
        **by_outcome,
        "with_ami": sum(1 for o in outcomes if o.get("ami")),
        "kept_because": {
            why: sum(1 for o in outcomes if o.get("why") == why)
            for why in ("status unread", "events unread")
        },
        "errors": sorted({o.get("error", "") for o in outcomes if o["outcome"] == "failed"})[:3],
        **counts,
        "median_seconds": statistics.median(seconds) if seconds else None,
        "last_seconds": seconds[-1] if seconds else None,
    }


def markdown(runs: list[dict[str, Any]]) -> list[str]:
    """The section ``python -m bench`` prints: one row per CloudFormation rate."""
    first = runs[0]
    lines = [
        "",
        f"## 9. Rollback of a stack of {first['lookups']} lookups at once "
        f"({first['events']:,} stack events, {first['events_at_end']:,} at the end), "
        f"Image Builder limited to {first['tps']:g} calls a second",
        "",
        "| CloudFormation calls a second | restored to B1 | kept B2 (status, events unread) | "
        "failed | answers with AMI | CloudFormation calls (throttled) | "
        "Image Builder calls (throttled) | answered: median, last |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        why = run["kept_because"]
        lines.append(
            f"| {run['cloudformation_tps']:g} | {run['restored']}/{run['lookups']} | "
            f"{run['kept']} ({why['status unread']}, {why['events unread']}) | "
            f"{run['failed']} | {run['with_ami']} | {run['cloudformation_calls']} "
            f"({run['cloudformation_throttled']}) | {run['imagebuilder_calls']} "
            f"({run['imagebuilder_throttled']}) | {run['median_seconds']:.1f} s, "
            f"{run['last_seconds']:.1f} s |"
        )
    lines += [
        "",
        "Targets: every lookup restored to B1, none failed, every answer with its AMI.",
    ]
    return lines


def main(argv: list[str]) -> None:
    """``serve ...`` and ``worker ...`` are the parts; otherwise run and print JSON."""
    if argv[:1] == ["serve"]:
        serve(int(argv[1]), float(argv[2]), float(argv[3]))
    elif argv[:1] == ["worker"]:
        worker(argv[1], int(argv[2]), int(argv[3]))
    else:
        lookups = int(argv[0]) if argv else 200
        tps = float(argv[1]) if len(argv) > 1 else 5.0
        cloudformation_tps = float(argv[2]) if len(argv) > 2 else tps
        print(json.dumps(run(lookups, tps, cloudformation_tps)))


if __name__ == "__main__":
    main(sys.argv[1:])
