"""What ``check`` prints (a table, JSON, or Markdown for ``$GITHUB_STEP_SUMMARY``) and the
exit code its verdicts make."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from image_lookup.contract import Attribute
from latest_image_build_cli.exit_codes import ERROR, OK, STALE, UNUSABLE
from latest_image_build_cli.pin_check import CURRENT, UNKNOWN, LookupCheck
from latest_image_build_cli.pin_check import STALE as STALE_STATUS
from latest_image_build_cli.pin_check import UNUSABLE as UNUSABLE_STATUS

STATUSES = (CURRENT, STALE_STATUS, UNUSABLE_STATUS, UNKNOWN)
FORMATS = ("table", "json", "markdown")
COLUMNS = ("Stack", "Lookup", "Status", "Pinned", "Resolves now", "Behind", "Note")
MARKDOWN_BADGES = {
    CURRENT: "✅ current",
    STALE_STATUS: "⚠️ stale",
    UNUSABLE_STATUS: "❌ unusable",
    UNKNOWN: "❔ unknown",
}


def exit_code(checks: Sequence[LookupCheck]) -> int:
    """4 when any pinned build is unusable, else 3 when any pin is stale, else 1 when any
    lookup could not be checked, else 0."""
    statuses = {check.status for check in checks}
    if UNUSABLE_STATUS in statuses:
        return UNUSABLE
    if STALE_STATUS in statuses:
        return STALE
    if UNKNOWN in statuses:
        return ERROR
    return OK


def render(checks: Sequence[LookupCheck], region: str, output_format: str) -> str:
    """The report in ``output_format`` (one of FORMATS), ending with a newline."""
    if output_format == "json":
        return json.dumps(as_json(checks, region), indent=2) + "\n"
    if output_format == "markdown":
        return markdown(checks, region)
    return table(checks, region)


def summary(checks: Sequence[LookupCheck]) -> str:
    """``3 lookups: 1 current, 1 stale, 1 unusable``."""
    counts = Counter(check.status for check in checks)
    parts = [f"{counts[status]} {status}" for status in STATUSES if counts[status]]
    noun = "lookup" if len(checks) == 1 else "lookups"
    return f"{len(checks)} {noun}: {', '.join(parts)}" if parts else "no lookups found"


def table(checks: Sequence[LookupCheck], region: str) -> str:
    """Aligned columns for a terminal."""
    rows = [list(COLUMNS)] + [_cells(check, check.status) for check in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in rows
    ]
    return "\n".join([*lines, "", f"{summary(checks)} (region {region})"]) + "\n"


def markdown(checks: Sequence[LookupCheck], region: str) -> str:
    """A Markdown table, e.g. for ``$GITHUB_STEP_SUMMARY`` or a pull-request comment."""
    lines = [
        f"### LatestImageBuild pins in {region}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for check in checks:
        cells = _cells(check, MARKDOWN_BADGES[check.status], code=True)
        lines.append("| " + " | ".join(_markdown_cell(cell) for cell in cells) + " |")
    lines += ["", f"{summary(checks)}; exit code {exit_code(checks)}."]
    return "\n".join(lines) + "\n"


def as_json(checks: Sequence[LookupCheck], region: str) -> dict[str, Any]:
    """Everything checked, as plain data."""
    counts = Counter(check.status for check in checks)
    return {
        "region": region,
        "exit_code": exit_code(checks),
        "summary": {status: counts[status] for status in STATUSES},
        "lookups": [
            {
                "stack": check.stack,
                "lookup": check.lookup,
                "logical_id": check.logical_id,
                "status": check.status,
                "problem": check.problem,
                "pinned": check.pinned._asdict() if check.pinned else None,
                "now": dict(check.now) if check.now is not None else None,
                "behind": check.behind._asdict() if check.behind else None,
                "properties": dict(check.properties) if check.properties is not None else None,
            }
            for check in checks
        ],
    }


def _cells(check: LookupCheck, status: str, *, code: bool = False) -> list[str]:
    def literal(text: str) -> str:
        return f"`{text}`" if code and text else text

    pinned = literal(check.pinned.build_version) if check.pinned else ""
    now = literal(check.now[Attribute.BUILD_VERSION]) if check.now else ""
    behind = check.behind.describe() if check.behind and check.status != CURRENT else ""
    return [check.stack, check.lookup, status, pinned, now, behind, check.problem]


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
