"""Promotion gates: which builds passed the team's checks (tags) and bake time (age). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import NamedTuple

_DAY = 86400
_UNITS = (("day", _DAY), ("hour", 3600), ("minute", 60), ("second", 1))


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
    """``30 hours old (needs 36 hours)``: never ``1 day old (needs 1 day)``.

    ``needed`` is said exactly, in the largest unit that divides it; ``age`` is rounded
    down, in the largest unit no larger than that one in which it is at least 1. In a
    common unit the age shown is then always less than the age needed.
    """
    units = [(unit, size) for unit, size in _UNITS if needed % size == 0 and needed >= size]
    needed_unit, needed_size = units[0] if units else ("second", 1)
    needs = _count(needed // needed_size, needed_unit)
    for unit, size in _UNITS:
        if size <= needed_size and age >= size:
            return f"{_count(int(age // size), unit)} old (needs {needs})"
    return f"{_count(max(int(age), 0), 'second')} old (needs {needs})"


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
