"""What ``check`` prints (a table, JSON, or Markdown for ``$GITHUB_STEP_SUMMARY``) and the
exit code its verdicts make.

Construct paths, stack names, reasons and build versions come from templates and services,
so they may hold anything: line breaks (``\\r`` too), HTML, Markdown links, backticks, pipes,
terminal escapes. The table shows them on one line with every control character replaced;
Markdown puts each in a code span (where neither HTML nor links nor emphasis are read) with
its pipes escaped, so a value can never leave its cell.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from image_lookup.contract import Attribute
from latest_image_build_cli.exit_codes import ERROR, OK, STALE, UNUSABLE
from latest_image_build_cli.pin_check import CURRENT, UNKNOWN, UNREAD, LookupCheck
from latest_image_build_cli.pin_check import STALE as STALE_STATUS
from latest_image_build_cli.pin_check import UNUSABLE as UNUSABLE_STATUS

STATUSES = (CURRENT, STALE_STATUS, UNUSABLE_STATUS, UNKNOWN)
FORMATS = ("table", "json", "markdown")
COLUMNS = ("Stack", "Lookup", "Status", "Pinned", "Resolves now", "Behind", "Note")
#: Added in front when the report spans accounts or regions.
PLACE_COLUMNS = ("Account", "Region")
MARKDOWN_BADGES = {
    CURRENT: "✅ current",
    STALE_STATUS: "⚠️ stale",
    UNUSABLE_STATUS: "❌ unusable",
    UNKNOWN: "❔ unknown",
    UNREAD: "🚫 unread",
}
#: Characters that end a line or steer a terminal or the text's direction: C0 and C1
#: controls (``\r``, ``\n``, ESC...), Unicode line and paragraph separators, bidi controls.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: Backslashes right before a pipe would pair with the pipe's escape in a GFM table row.
_BACKSLASHES_BEFORE_PIPE = re.compile(r"\\+(?=\|)")


class Scope(NamedTuple):
    """Where the report looked."""

    regions: tuple[str, ...]
    accounts: tuple[str, ...] | None = None
    """The accounts of ``--accounts`` / ``--organization``; None for the caller's own."""
    calls: Mapping[str, int] = {}
    """Calls made per account (fleet checks)."""
    unread: Mapping[str, str] = {}
    """Accounts that could not be read at all, and why."""

    @property
    def spans(self) -> bool:
        """True when rows need their account and region to be told apart."""
        return self.accounts is not None or len(self.regions) > 1

    def describe(self) -> str:
        """``region us-east-1`` or ``3 accounts, 2 regions: us-east-1, eu-west-1``."""
        regions = ", ".join(self.regions)
        if self.accounts is None and len(self.regions) == 1:
            return f"region {regions}"
        where = f"{len(self.regions)} region{'s' if len(self.regions) != 1 else ''}: {regions}"
        if self.accounts is None:
            return where
        return f"{len(self.accounts)} account{'s' if len(self.accounts) != 1 else ''}, {where}"


def exit_code(checks: Sequence[LookupCheck]) -> int:
    """4 when any pinned build is unusable, else 3 when any pin is stale, else 1 when any
    lookup could not be checked or nothing at all could be read, else 0.

    An account or region that could not be read (``unread``) counts only when nothing was.
    """
    statuses = {check.status for check in checks}
    if UNUSABLE_STATUS in statuses:
        return UNUSABLE
    if STALE_STATUS in statuses:
        return STALE
    if UNKNOWN in statuses or statuses == {UNREAD}:
        return ERROR
    return OK


def render(checks: Sequence[LookupCheck], scope: Scope, output_format: str) -> str:
    """The report in ``output_format`` (one of FORMATS), ending with a newline."""
    if output_format == "json":
        return json.dumps(as_json(checks, scope), indent=2) + "\n"
    if output_format == "markdown":
        return markdown(checks, scope)
    return table(checks, scope)


def summary(checks: Sequence[LookupCheck]) -> str:
    """``3 lookups: 1 current, 1 stale, 1 unusable`` (``; 2 unread`` for places not read)."""
    lookups = [check for check in checks if check.status != UNREAD]
    counts = Counter(check.status for check in lookups)
    parts = [f"{counts[status]} {status}" for status in STATUSES if counts[status]]
    noun = "lookup" if len(lookups) == 1 else "lookups"
    text = f"{len(lookups)} {noun}: {', '.join(parts)}" if parts else "no lookups found"
    unread = sum(1 for check in checks if check.status == UNREAD)
    return f"{text}; {unread} unread (see their rows)" if unread else text


def table(checks: Sequence[LookupCheck], scope: Scope) -> str:
    """Aligned columns for a terminal."""
    columns = _columns(scope)
    rows = [list(columns)] + [
        [_printable(cell) for cell in _cells(check, check.status, scope)] for check in checks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns) - 1)]
    lines = [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in rows
    ]
    return "\n".join([*lines, "", f"{summary(checks)} ({scope.describe()})"]) + "\n"


def markdown(checks: Sequence[LookupCheck], scope: Scope) -> str:
    """A Markdown table, e.g. for ``$GITHUB_STEP_SUMMARY`` or a pull-request comment."""
    columns = _columns(scope)
    where = scope.regions[0] if not scope.spans else scope.describe()
    lines = [
        f"### LatestImageBuild pins in {_printable(where)}",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for check in checks:
        cells = _cells(check, MARKDOWN_BADGES[check.status], scope, code=True)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"{_printable(summary(checks))}; exit code {exit_code(checks)}."]
    return "\n".join(lines) + "\n"


def as_json(checks: Sequence[LookupCheck], scope: Scope) -> dict[str, Any]:
    """Everything checked, as plain data."""
    counts = Counter(check.status for check in checks)
    report: dict[str, Any] = {
        "region": scope.regions[0] if len(scope.regions) == 1 else None,
        "regions": list(scope.regions),
        "exit_code": exit_code(checks),
        "summary": {status: counts[status] for status in (*STATUSES, UNREAD)},
    }
    if scope.accounts is not None:
        report["accounts"] = [
            {
                "account": account,
                "calls": scope.calls.get(account, 0),
                "unread": scope.unread.get(account) or None,
            }
            for account in scope.accounts
        ]
    report["lookups"] = [
        {
            "account": check.account,
            "region": check.region,
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
    ]
    return report


def _columns(scope: Scope) -> tuple[str, ...]:
    return (*PLACE_COLUMNS, *COLUMNS) if scope.spans else COLUMNS


def _cells(check: LookupCheck, status: str, scope: Scope, *, code: bool = False) -> list[str]:
    """A row's cells; with ``code``, every value from a template or a service code-quoted."""
    quote = markdown_code if code else str
    ours = _markdown_text if code else str  # texts this command writes
    pinned = quote(check.pinned.build_version) if check.pinned else ""
    now = quote(check.now[Attribute.BUILD_VERSION]) if check.now else ""
    behind = check.behind.describe() if check.behind and check.status != CURRENT else ""
    cells = [
        quote(check.stack),
        quote(check.lookup),
        status,
        pinned,
        now,
        ours(behind),
        quote(check.problem),
    ]
    if scope.spans:
        cells[:0] = [quote(check.account), quote(check.region)]
    return cells


def markdown_code(text: str) -> str:
    """``text`` as one GFM table cell's code span: literal, on one line, never leaving it.

    The fence is one backtick longer than the longest run inside (CommonMark, code spans);
    a space pads text that starts or ends with a backtick or a space (one is stripped from
    each side). Pipes are escaped, as GFM tables require even inside code spans; a
    backslash right before a pipe is shown as a fullwidth one, or it would pair with the
    escape and end the cell.
    """
    text = _printable(text)
    if not text:
        return ""
    text = _BACKSLASHES_BEFORE_PIPE.sub(lambda run: "\uff3c" * len(run.group()), text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def _markdown_text(text: str) -> str:
    return _printable(text).replace("|", "\\|")


def _printable(text: str) -> str:
    """``text`` on one line, every control character a space."""
    return _UNPRINTABLE.sub(" ", text)
