"""Promotion gates: which builds passed the team's checks (tags) and bake time (age). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import NamedTuple

_DAY = 86400


class PromotionGates(NamedTuple):
    """Tags a build must carry, tags it must not, and how old it must be."""

    require_tags: tuple[tuple[str, str], ...] = ()
    exclude_tags: tuple[tuple[str, str], ...] = ()
    min_age_seconds: int = 0

    @property
    def active(self) -> bool:
        """Whether any gate is set."""
        return bool(self.require_tags or self.exclude_tags or self.min_age_seconds)

    def rejection(self, tags: Mapping[str, str], date_created: str, now: datetime) -> str | None:
        """Why a build fails the gates (``lacks stage=prod``), or None when it passes."""
        for key, value in self.require_tags:
            if tags.get(key) != value:
                return f"lacks {key}={value}"
        for key, value in self.exclude_tags:
            if tags.get(key) == value:
                return f"carries {key}={value}"
        if self.min_age_seconds:
            created = parse_date_created(date_created)
            if created is None:
                return f"creation time {date_created!r} unreadable"
            age = (now - created).total_seconds()
            if age < self.min_age_seconds:
                return describe_shortfall(age, self.min_age_seconds)
        return None

    def describe(self) -> str:
        """``require stage=prod, min age 3d``, for reasons."""
        parts = [f"require {k}={v}" for k, v in self.require_tags]
        parts += [f"exclude {k}={v}" for k, v in self.exclude_tags]
        if self.min_age_seconds:
            parts.append(f"min age {describe_age(self.min_age_seconds)}")
        return ", ".join(parts)


def parse_date_created(text: str) -> datetime | None:
    """The service's ``dateCreated`` (ISO 8601, e.g. ``2020-02-14T19:46:16.904Z`` in the AWS CLI
    examples) as an aware datetime, or None when it cannot be read."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def describe_age(seconds: float) -> str:
    """``2 days``, ``5 hours``, ``42 minutes`` or ``30 seconds``."""
    for unit, size in (("day", _DAY), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    count = max(0, int(seconds))
    return f"{count} second{'s' if count != 1 else ''}"


def describe_shortfall(age: float, needed: int) -> str:
    """``30 hours old (needs 36 hours)``: both in the largest unit that tells them apart.

    ``needed`` is said exactly and ``age`` rounded down, so the age shown is always
    less than the age needed (never ``1 day old (needs 1 day)``).
    """
    for unit, size in (("day", _DAY), ("hour", 3600), ("minute", 60), ("second", 1)):
        shown = int(max(age, 0) // size)
        if needed % size == 0 and shown < needed // size:
            return f"{_count(shown, unit)} old (needs {_count(needed // size, unit)})"
    return f"{describe_age(age)} old (needs {describe_age(needed)})"


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}{'s' if number != 1 else ''}"


def whole_number(text: str) -> int | None:
    """ASCII digits (at most 12) as a number, or None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


def parse_age(text: str) -> int | None:
    """``90m``, ``36h``, ``7d`` or plain seconds as whole seconds; None when not one of those."""
    units = {"s": 1, "m": 60, "h": 3600, "d": _DAY}
    number, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    count = whole_number(number)
    return None if count is None else count * unit
