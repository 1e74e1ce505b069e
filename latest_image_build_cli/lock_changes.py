"""What a lock run changes, entry by entry, and its Markdown table (a pull request's body)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from constructs_lib.lock_file import LockEntry
from image_lookup.contract import Attribute
from image_lookup.gates import describe_age, parse_date_created

NONE = "(none)"
REMOVED = "(removed)"
ARROW = " → "


class PinChange(NamedTuple):
    """One entry that the run adds, rewrites or removes."""

    path: str
    old: LockEntry | None
    new: LockEntry | None

    @property
    def kind(self) -> str:
        """``added``, ``removed``, ``re-pinned`` (another build), ``query changed``, or
        ``invalid, re-pinned`` (the entry held a value no deploy would pin: a hand edit)."""
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        if self.old.problem() is not None:
            return "invalid, re-pinned"
        return "re-pinned" if self.old.pin != self.new.pin else "query changed"


def changes_between(old: Mapping[str, LockEntry], new: Mapping[str, LockEntry]) -> list[PinChange]:
    """Every entry that differs, by construct path."""
    return [
        PinChange(path, old.get(path), new.get(path))
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]


def render_table(changes: Sequence[PinChange], now: datetime) -> str:
    """A Markdown table: old -> new version and build, the new build's age, AMI per region;
    then, for each entry that held an invalid value, a line saying which."""
    lines = [
        "| lookup | change | image | version | build | age | AMI or container image (region) |",
        "|---|---|---|---|---|---|---|",
    ]
    for change in changes:
        either = change.new or change.old
        assert either is not None
        cells = [
            f"`{change.path}`",
            change.kind,
            either.pin[Attribute.IMAGE_NAME],
            _transition(change, Attribute.VERSION),
            _transition(change, Attribute.BUILD_VERSION),
            _age(change.new, now),
            _output(change),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    invalid = [
        f"- `{change.path}`: {problem}"
        for change in changes
        if change.old is not None and (problem := change.old.problem()) is not None
    ]
    if invalid:
        lines += ["", "Entries that held a value no deploy would pin (edited by hand?):", *invalid]
    return "\n".join(lines) + "\n"


def _transition(change: PinChange, key: str) -> str:
    old = change.old.pin[key] if change.old else NONE
    new = change.new.pin[key] if change.new else REMOVED
    return new if old == new else f"{old}{ARROW}{new}"


def _age(entry: LockEntry | None, now: datetime) -> str:
    """How old the newly pinned build is (from its ``DateCreated``)."""
    if entry is None:
        return ""
    created = parse_date_created(entry.pin[Attribute.DATE_CREATED])
    return describe_age((now - created).total_seconds()) if created else "unknown"


def _output(change: PinChange) -> str:
    """``us-east-1: `ami-1` → `ami-2```: the AMI in the stack's region, else the container."""
    entries = [entry for entry in (change.old, change.new) if entry is not None]
    key = (
        Attribute.AMI_ID
        if any(entry.pin[Attribute.AMI_ID] for entry in entries)
        else Attribute.CONTAINER_IMAGE_URI
    )
    old, new = _value(change.old, key, NONE), _value(change.new, key, REMOVED)
    regions = [entry.stack.region for entry in entries]  # old, new
    region = regions[0] if len(set(regions)) == 1 else ARROW.join(regions)
    return f"{region}: {new if old == new else old + ARROW + new}"


def _value(entry: LockEntry | None, key: str, absent: str) -> str:
    """The attribute in backticks; ``(none)`` when empty, ``absent`` without an entry."""
    if entry is None:
        return absent
    return f"`{entry.pin[key]}`" if entry.pin[key] else NONE
