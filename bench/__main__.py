"""``python -m bench`` (``make bench``): measure the lookup and print a Markdown table.

Ratios are measured within one run (same machine, same moment); absolute times drift on a
shared machine. Each heavy measurement runs in a fresh process.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VERSION_COUNTS = (10, 100, 1_000, 10_000)
LOOKUP_COUNTS = (1, 10, 50)
COLD_START_RUNS = 41
BURST_LOOKUPS = 200
BURST_TPS = 5.0
#: CloudFormation publishes no read rate: the rollback bench runs at the burst's rate and above.
ROLLBACK_CLOUDFORMATION_TPS = (5.0, 20.0, 50.0)


def python(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    """Run this interpreter in a fresh process; return stdout."""
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def api_calls_and_memory() -> list[dict[str, Any]]:
    """Sections 1 and 2b: one lookup per catalogue size against an out-of-process endpoint."""
    rows = []
    for versions in VERSION_COUNTS:
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.serve_fake", str(versions)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            probe = json.loads(python("-m", "bench.lookup_probe", url, str(versions)))
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(timeout=30)
        rows.append({"versions": versions, **probe})
    return rows


def ranking_cpu() -> dict[str, float]:
    """Section 2a: CPU time to rank 10,000 versions and pick the winner (best of 7)."""
    code = """
import json, random, time
from image_lookup.models import ImageBuild, ImageVersionRef, LookupRequest
from datetime import datetime, timezone
from image_lookup.ranking import pick, rank_candidates
from image_lookup.versions import parse_selector
rng = random.Random(7)
versions = [(rng.randrange(5), rng.randrange(100), i) for i in range(10_000)]
refs = [ImageVersionRef(f"arn/{i}", "golden", v, ".".join(map(str, v)))
        for i, v in enumerate(versions)]
request = LookupRequest(image_name="golden", selector=parse_selector("1.x.x"))
timings = []
for _ in range(7):
    start = time.process_time()
    ranked = rank_candidates(refs, request)
    top = ranked.matching[0]
    builds = [ImageBuild(f"{top.arn}/{n}", "golden", top.version, n, "AVAILABLE",
                         f"{top.version_text}/{n}") for n in (1, 2)]
    pick(builds, request, top.version, datetime.now(timezone.utc))
    timings.append(time.process_time() - start)
print(json.dumps({"best_ms": min(timings) * 1000, "median_ms": sorted(timings)[3] * 1000}))
"""
    result: dict[str, float] = json.loads(python("-c", code))
    return result


def cold_start() -> dict[str, float]:
    """Section 3: import time of the handler over a bare ``import boto3``, fresh processes.

    The handler is imported from the staged asset, as Lambda does: once from source only
    (the asset ships no bytecode and /var/task is read-only, so Lambda compiles it on
    every cold start) and once with a bytecode cache, like the runtime's own boto3.
    """
    staged = Path(staged_asset())
    compiled = Path(tempfile.mkdtemp(prefix="bench-pyc-")) / "asset"
    shutil.copytree(staged, compiled)
    python("-m", "compileall", "-q", str(compiled))
    probe = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs: dict[str, tuple[str, Path]] = {
        # the asset's folder is on sys.path for the baseline too, as /var/task is in Lambda
        "boto3": ("boto3", staged),
        "source": ("image_lookup.handler", staged),
        "bytecode": ("image_lookup.handler", compiled),
    }
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(COLD_START_RUNS):  # interleaved, so drift hits all alike
        for name, (module, path) in runs.items():
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["PYTHONPATH"] = str(path)
            if name == "source":
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            output = python(
                "-c", probe.format(module=module), env=env, cwd=Path(tempfile.gettempdir())
            )
            samples[name].append(float(output))
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    return {
        "boto3_ms": medians["boto3"],
        "source_ms": medians["source"],
        "bytecode_ms": medians["bytecode"],
        "source_ratio": medians["source"] / medians["boto3"],
        "bytecode_ratio": medians["bytecode"] / medians["boto3"],
    }


def staged_asset() -> str:
    """The handler asset exactly as the construct stages it."""
    from constructs_lib.handler_asset import staged_lookup_asset

    return staged_lookup_asset()


def asset_size() -> dict[str, int]:
    """Section 4: the handler asset zipped as CDK uploads it (deflate)."""
    staged = Path(staged_asset())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(staged.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(staged))
    files = sum(1 for p in staged.rglob("*") if p.is_file())
    return {"zipped_bytes": len(buffer.getvalue()), "files": files}


def synth() -> list[dict[str, Any]]:
    """Section 5: synth time and template size, this construct vs AwsCustomResource."""
    rows = []
    for lookups in LOOKUP_COUNTS:
        for way in ("LatestImageBuild", "AwsCustomResource"):
            runs = [
                json.loads(python("-m", "bench.synth_probe", way, str(lookups))) for _ in range(3)
            ]
            rows.append(
                {
                    "way": way,
                    "lookups": lookups,
                    "seconds": statistics.median(r["seconds"] for r in runs),
                    "template_bytes": runs[0]["template_bytes"],
                    "functions": runs[0]["functions"],
                    "resources": runs[0]["resources"],
                }
            )
    return rows


def report() -> str:
    """Run every section; return the Markdown tables."""
    started = time.perf_counter()
    lines = ["## 1. API calls per lookup, 2b. peak memory of a whole lookup", ""]
    lines += [
        "| versions of the image (+ as many of others) | calls | minimum | "
        "peak memory (tracemalloc) | wall time | chosen |",
        "|---|---|---|---|---|---|",
    ]
    for row in api_calls_and_memory():
        lines.append(
            f"| {row['versions']:,} | {row['calls']} | {row['minimum']} | "
            f"{row['peak_mib']:.1f} MiB | {row['seconds'] * 1000:.0f} ms | {row['chosen']} |"
        )
    gated = json.loads(python("-m", "bench.gated_calls"))
    lines += [
        "",
        "## 1b. Calls per lookup of an own image, ungated and gated (10 versions)",
        "",
        "| builds per version | ungated | gated (require stage=prod) |",
        "|---|---|---|",
    ]
    for row in gated:
        ungated = ", ".join(f"{op} {n}" for op, n in sorted(row["ungated"].items()))
        gated_calls = ", ".join(f"{op} {n}" for op, n in sorted(row["gated"].items()))
        lines.append(f"| {row['builds']} | {ungated} | {gated_calls} |")
    cpu = ranking_cpu()
    lines += [
        "",
        "## 2a. CPU time to rank 10,000 versions and pick the winner",
        "",
        f"best {cpu['best_ms']:.1f} ms, median {cpu['median_ms']:.1f} ms (target < 50 ms)",
    ]
    cold = cold_start()
    lines += [
        "",
        f"## 3. Cold start (median of {COLD_START_RUNS} fresh processes each)",
        "",
        "| import | median | ratio to boto3 |",
        "|---|---|---|",
        f"| `import boto3` | {cold['boto3_ms']:.1f} ms | |",
        f"| `import image_lookup.handler`, from source (as Lambda runs the asset) | "
        f"{cold['source_ms']:.1f} ms | **{cold['source_ratio']:.3f}** |",
        f"| `import image_lookup.handler`, with bytecode | {cold['bytecode_ms']:.1f} ms | "
        f"**{cold['bytecode_ratio']:.3f}** |",
        "",
        "Target: ratio <= 1.10.",
    ]
    asset = asset_size()
    lines += [
        "",
        "## 4. Handler asset",
        "",
        f"{asset['files']} files, {asset['zipped_bytes']:,} bytes zipped (target < 30 KB)",
    ]
    rows = synth()
    lines += [
        "",
        "## 5. Synth (median of 3 fresh processes; time excludes interpreter and jsii start-up)",
        "",
        "| way | lookups | synth time | template bytes | Lambda functions | resources |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['way']} | {row['lookups']} | {row['seconds']:.2f} s | "
            f"{row['template_bytes']:,} | {row['functions']} | {row['resources']} |"
        )
    lines.append("")
    for way in ("LatestImageBuild", "AwsCustomResource"):
        by_count = {r["lookups"]: r for r in rows if r["way"] == way}
        per_extra = (by_count[50]["template_bytes"] - by_count[1]["template_bytes"]) / 49
        lines.append(f"- {way}: {per_extra:,.0f} template bytes per extra lookup")
    burst = json.loads(python("-m", "bench.burst", str(BURST_LOOKUPS), str(BURST_TPS)))
    lines += [
        "",
        f"## 6. A stack of {BURST_LOOKUPS} lookups at once, account limited to {BURST_TPS:g} "
        "calls a second",
        "",
        "| resolved | calls (throttled) | calls per lookup: mean, max | "
        "answered: median, 90 %, last | ideal |",
        "|---|---|---|---|---|",
        f"| {burst['resolved']}/{burst['lookups']} | {burst['calls']} ({burst['throttled']}) | "
        f"{burst['calls_per_lookup_mean']:.2f}, {burst['calls_per_lookup_max']} | "
        f"{burst['median_seconds']:.1f} s, {burst['p90_seconds']:.1f} s, "
        f"**{burst['last_seconds']:.1f} s** | {burst['ideal_seconds']:.0f} s |",
        "",
        "Targets: every lookup resolves, at most 3 calls each, the last within 2x the ideal.",
    ]
    from bench import check_bench

    lines += check_bench.markdown(json.loads(python("-m", "bench.check_bench")))
    lines += lock_section(json.loads(python("-m", "bench.lock_bench")))
    from bench import rollback_bench

    rollbacks = [
        json.loads(
            python("-m", "bench.rollback_bench", str(BURST_LOOKUPS), str(BURST_TPS), str(rate))
        )
        for rate in ROLLBACK_CLOUDFORMATION_TPS
    ]
    lines += rollback_bench.markdown(rollbacks)
    from bench import protection_bench

    lines += protection_bench.markdown(json.loads(python("-m", "bench.protection_bench")))
    lines += ["", f"(whole run: {time.perf_counter() - started:.0f} s)"]
    return "\n".join(lines)


def lock_section(lock: dict[str, Any]) -> list[str]:
    """Section 7: ``lock`` of a 30-lookup app; one stack's template in lock vs deploy mode."""
    calls = ", ".join(f"{op} {n}" for op, n in lock["calls"].items())
    lines = [
        "",
        f"## 8. `lock` of an app with {lock['lookups']} lookups (median of {lock['runs']} runs)",
        "",
        f"{lock['total_calls']} calls ({calls}); `lock` {lock['lock_seconds']:.1f} s, unchanged "
        f"lock {lock['unchanged_lock_seconds']:.1f} s (the app's synth alone "
        f"{lock['app_synth_seconds']:.1f} s; resolving from its assembly "
        f"{lock['resolve_from_assembly_seconds']:.1f} s)",
        "",
        "| lookups in the stack | mode | template bytes | resources | Lambda functions |",
        "|---|---|---|---|---|",
    ]
    for count, modes in lock["templates"].items():
        for mode in ("deploy", "lock"):
            row = modes[mode]
            lines.append(
                f"| {count} | {mode} | {row['template_bytes']:,} | {row['resources']} | "
                f"{row['functions']} |"
            )
    return lines


if __name__ == "__main__":
    print(report())
