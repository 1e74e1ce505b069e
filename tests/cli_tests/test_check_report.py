"""``check --format markdown``: every value from a template or a service stays in its cell.

Held (issue 20 §6, README "check"): construct paths, stack names, reasons and versions may
hold ``\\r``, HTML, Markdown links, backticks and pipes; in ``$GITHUB_STEP_SUMMARY`` or a PR
comment none of them may end the row, add a cell, or be read as HTML or a link. The rules
relied on are the GitHub Flavored Markdown spec's: a table row is one line, its cells are
split at pipes not escaped by a backslash ("Include a pipe in a cell's content by escaping
it, including inside other inline spans"), and a code span's content is literal (CommonMark,
"Code spans": no HTML, links or emphasis inside; it ends only at a backtick run of the
opening run's length).
"""

from __future__ import annotations

import re

import pytest

from latest_image_build_cli.check_report import Scope, markdown, markdown_code, table
from latest_image_build_cli.pin_check import UNKNOWN, UNREAD, LookupCheck, Pinned

HOSTILE = [
    "Prod/Base\r| x | y |",
    "Prod/<img src=x onerror=alert(1)>",
    "[click](https://evil.example) and https://evil.example",
    "a `tick` and ``two`` ticks",
    "`starts and ends with a tick`",
    " padded ",
    "pipe | and backslash-pipe \\| and \\\\|",
    "line\nbreak\u2028sep\x1b[31mred\x85",
    "**bold** _em_ <b>b</b> &amp;",
]


def cells(row: str) -> list[str]:
    """A GFM table row's cells: split at pipes no backslash escapes, outer pipes dropped."""
    assert row.startswith("| ") and row.endswith(" |"), row
    parts = re.split(r"(?<!\\)\|", row[1:-1])
    return [part.strip() for part in parts]


def code_span_content(cell: str) -> str:
    """The literal text of a cell that is exactly one code span (pipe escapes removed)."""
    match = re.fullmatch(r"(`+)(.*)\1", cell)
    assert match, cell
    fence, inner = match.groups()
    # the only backtick run of the fence's length is the closing one
    assert all(len(run) != len(fence) for run in re.findall(r"`+", inner)), cell
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
        inner = inner[1:-1]
    return inner.replace("\\|", "|")


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_value_is_one_literal_code_span(text: str) -> None:
    check = LookupCheck(
        stack="Prod",
        lookup=text,
        logical_id="Base",
        status=UNKNOWN,
        problem=f"cannot evaluate ImageName: {text}",
        pinned=Pinned(arn="arn", build_version=text),
    )
    output = markdown([check], Scope(regions=("us-east-1",)))
    rows = [line for line in output.splitlines() if line.startswith("|")]
    header, _rule, row = rows  # one line per row: nothing broke out
    assert "\r" not in output and "\x1b" not in output and "\u2028" not in output
    assert "\\\\|" not in row  # no backslash that could pair with a pipe's escape
    found = cells(row)
    assert len(found) == len(cells(header)) == 7
    flat = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", text)
    lookup = code_span_content(found[1])
    assert lookup.replace("\uff3c", "\\") == flat  # shown as it is, on one line
    assert code_span_content(found[3]).replace("\uff3c", "\\") == flat
    assert code_span_content(found[6]).replace("\uff3c", "\\") == (
        f"cannot evaluate ImageName: {flat}"
    )


def test_fleet_rows_have_account_and_region_cells() -> None:
    rows = [
        LookupCheck(stack="(account)", lookup="", logical_id="", status=UNREAD,
                    problem="cannot assume role: access denied", account="111122223333"),
    ]  # fmt: skip
    scope = Scope(regions=("us-east-1", "eu-west-1"), accounts=("111122223333",))
    output = markdown(rows, scope)
    header, _rule, row = [line for line in output.splitlines() if line.startswith("|")]
    assert cells(header)[:3] == ["Account", "Region", "Stack"]
    assert cells(row)[:5] == ["`111122223333`", "", "`(account)`", "", "🚫 unread"]
    assert output.splitlines()[0] == (
        "### LatestImageBuild pins in 1 account, 2 regions: us-east-1, eu-west-1"
    )
    assert "0 lookups" not in output and "1 unread" in output


def test_the_terminal_table_shows_no_control_character() -> None:
    check = LookupCheck(
        stack="Prod", lookup="Prod/Base\r\x1b[2Jgone", logical_id="", status=UNKNOWN
    )
    output = table([check], Scope(regions=("us-east-1",)))
    assert "\r" not in output and "\x1b" not in output
    assert "Prod/Base  [2Jgone" in output


def test_markdown_code_fences_outgrow_inner_backticks() -> None:
    assert markdown_code("a ``b`` c") == "```a ``b`` c```"
    assert markdown_code("`x`") == "`` `x` ``"
    assert markdown_code("") == ""
