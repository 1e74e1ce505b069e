"""Many lookups of one stack at once against a rate-limited account (issue 15, point 7).

``python -m bench.burst [LOOKUPS] [TPS] [LAMBDA_DIR]`` prints one JSON object: LOOKUPS
concurrent handler invocations (default 200) of an own image (one GetImage each when
unthrottled) against the local Image Builder limited to TPS calls a second (default 5,
token bucket of one second's worth), with ``LATEST_IMAGE_BUILD_LOOKUPS`` set as the
construct sets it on the handler of such a stack. LAMBDA_DIR (default ``lambda/``) is
where ``image_lookup`` is imported from, to measure an older handler the same way.

Layout, for realistic concurrency on 2 cores:

* the endpoint runs in its own process (``serve``), like ``bench.serve_fake``;
* the invocations run in WORKERS processes (``worker``) of LOOKUPS / WORKERS threads each.
  Every thread is one invocation: its own ``on_event`` call, Lambda context, deadline,
  retrier and boto3 client; nothing is shared between them but the process's boto3
  session (as warm Lambda invocations share it). boto3 sessions are not thread-safe, so
  client creation is serialized by a lock here; Lambda runs concurrent invocations in
  separate environments and needs none.

All invocations start at the same instant; a lookup's time runs from there to its answer.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.invocations import BenchContext, prepare_worker, run_at_start

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "golden"
WORKERS = 4
#: The Lambda timeout of 0.4.0 and earlier. Today's is longer for rollbacks, but an ordinary
#: lookup still gets only ``contract.ORDINARY_WORK_SECONDS`` (this, less the 10 s reserve),
#: so older handlers (LAMBDA_DIR) and today's are measured alike.
TIMEOUT_SECONDS = 120.0
#: The environment variable the construct sets to the stack's number of lookups.
LOOKUPS_ENV = "LATEST_IMAGE_BUILD_LOOKUPS"


def serve(tps: float) -> None:
    """Serve a rate-limited endpoint; print its URL, then its call counts when stdin closes."""
    from local_endpoints.imagebuilder import FakeImageBuilder

    fake = FakeImageBuilder(rate_limit_tps=tps)
    for minor in range(10):
        fake.add(IMAGE, f"1.{minor}.0")
    fake.start()
    print(fake.url, flush=True)
    sys.stdin.read()
    fake.stop()
    print(json.dumps({"calls": fake.count(), "throttled": fake.throttled}), flush=True)


def worker(first: int, count: int) -> None:
    """Run ``count`` invocations in threads from the start time read on stdin; print results."""
    from image_lookup.handler import on_event

    lines = prepare_worker()
    results: list[dict[str, Any]] = []

    def invoke(index: int, started: float) -> None:
        logical_id = f"Lookup{index}"
        event = {
            "RequestType": "Create",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/Burst/1",
            "LogicalResourceId": logical_id,
            "ResourceProperties": {"ImageName": IMAGE, "VersionSelector": "1.x.x"},
        }
        outcome: dict[str, Any] = {"lookup": logical_id}
        try:
            on_event(event, BenchContext(started, TIMEOUT_SECONDS))
            outcome["ok"] = True
        except Exception as error:  # every failure is a figure here
            outcome.update(ok=False, error=str(error)[:200])
        outcome["seconds"] = time.time() - started
        results.append(outcome)

    run_at_start(invoke, range(first, first + count))
    for outcome in results:
        outcome["calls"] = lines.get(outcome["lookup"], {}).get("calls")
    print(json.dumps(results), flush=True)


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.burst", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _client_environment(url: str, lambda_dir: Path, lookups: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL_IMAGEBUILDER=url,
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=os.pathsep.join((str(lambda_dir), str(ROOT))),
    )
    env[LOOKUPS_ENV] = str(lookups)
    return env


def run(lookups: int = 200, tps: float = 5.0, lambda_dir: Path = ROOT / "lambda") -> dict[str, Any]:
    """Start the endpoint and the workers, fire every lookup at once, gather the figures."""
    server = _spawn("serve", str(tps))
    assert server.stdin is not None and server.stdout is not None
    workers: list[subprocess.Popen[str]] = []
    try:
        url = server.stdout.readline().strip()
        env = _client_environment(url, lambda_dir, lookups)
        share = -(-lookups // WORKERS)
        for first in range(0, lookups, share):
            count = min(share, lookups - first)
            workers.append(_spawn("worker", str(first), str(count), env=env))
        for process in workers:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a bench worker failed to start")
        started = time.time() + 1.0
        for process in workers:
            assert process.stdin is not None
            process.stdin.write(f"{started}\n")
            process.stdin.flush()
        outcomes: list[dict[str, Any]] = []
        for process in workers:
            stdout, _ = process.communicate(timeout=TIMEOUT_SECONDS + 60)
            outcomes.extend(json.loads(stdout))
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
        server.stdin.close()
        server_counts = json.loads(server.stdout.readline())
        server.wait(timeout=30)
    return summarize(outcomes, server_counts, lookups, tps)


def summarize(
    outcomes: list[dict[str, Any]], server: dict[str, int], lookups: int, tps: float
) -> dict[str, Any]:
    """Figures of one run: resolved, calls per lookup, throttles, and when lookups ended."""
    resolved = [o for o in outcomes if o["ok"]]
    calls = [int(o["calls"]) for o in outcomes if o.get("calls") is not None]
    seconds = sorted(o["seconds"] for o in resolved)
    pick: Callable[[float], float] = lambda q: seconds[min(len(seconds) - 1, int(q * len(seconds)))]  # noqa: E731
    return {
        "lookups": lookups,
        "tps": tps,
        "resolved": len(resolved),
        "errors": sorted({o.get("error", "") for o in outcomes if not o["ok"]})[:3],
        "calls": server["calls"],
        "throttled": server["throttled"],
        "calls_per_lookup_mean": statistics.mean(calls) if calls else None,
        "calls_per_lookup_max": max(calls) if calls else None,
        "ideal_seconds": lookups / tps,
        "median_seconds": pick(0.5) if seconds else None,
        "p90_seconds": pick(0.9) if seconds else None,
        "last_seconds": seconds[-1] if seconds else None,
    }


def main(argv: list[str]) -> None:
    """``serve TPS`` and ``worker FIRST COUNT`` are the parts; otherwise run and print JSON."""
    if argv[:1] == ["serve"]:
        serve(float(argv[1]))
    elif argv[:1] == ["worker"]:
        worker(int(argv[1]), int(argv[2]))
    else:
        lookups = int(argv[0]) if argv else 200
        tps = float(argv[1]) if len(argv) > 1 else 5.0
        lambda_dir = Path(argv[2]).resolve() if len(argv) > 2 else ROOT / "lambda"
        print(json.dumps(run(lookups, tps, lambda_dir)))


if __name__ == "__main__":
    main(sys.argv[1:])
