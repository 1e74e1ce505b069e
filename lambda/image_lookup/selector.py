"""Wildcard semantic version selectors and numeric version ordering.

Pure functions only: no I/O, no AWS. Image Builder versions have three nodes
(``major.minor.patch``) assigned by the user and a fourth, the build number,
assigned by the service (``1.2.3/4``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from image_lookup.errors import InvalidInputError, show_value

#: Largest value Image Builder accepts in a version node (2**30 - 1).
MAX_NODE = 1073741823
WILDCARD = "x"

# Selectors are strict (no leading zeros); versions the service reports are read leniently.
_NODE_PATTERN = r"(0|[1-9][0-9]{0,9})"
_SERVICE_NODE = r"([0-9]{1,10})"
_VERSION_RE = re.compile(rf"^{_SERVICE_NODE}\.{_SERVICE_NODE}\.{_SERVICE_NODE}$")
_BUILD_VERSION_RE = re.compile(
    rf"^{_SERVICE_NODE}\.{_SERVICE_NODE}\.{_SERVICE_NODE}/{_SERVICE_NODE}$"
)
_SELECTOR_RE = re.compile(
    rf"^(?:x\.x\.x|{_NODE_PATTERN}\.x\.x|{_NODE_PATTERN}\.{_NODE_PATTERN}\.x"
    rf"|{_NODE_PATTERN}\.{_NODE_PATTERN}\.{_NODE_PATTERN})$"
)

SemVer = tuple[int, int, int]


@dataclass(frozen=True)
class VersionSelector:
    """A parsed selector: the fixed leading nodes; the rest are wildcards."""

    text: str
    fixed: tuple[int, ...]

    def matches(self, version: SemVer) -> bool:
        """True when ``version`` agrees with every fixed node of the selector."""
        return version[: len(self.fixed)] == self.fixed

    @property
    def is_exact(self) -> bool:
        """True for a selector with no wildcard, such as ``1.2.3``."""
        return len(self.fixed) == 3


def parse_selector(text: str) -> VersionSelector:
    """Parse ``x.x.x``, ``1.x.x``, ``1.2.x`` or ``1.2.3``; raise InvalidInputError otherwise."""
    if not isinstance(text, str) or not _SELECTOR_RE.match(text):
        raise InvalidInputError(
            f"invalid version selector {show_value(text)}: use x.x.x, 1.x.x, 1.2.x or 1.2.3 "
            f"(numbers 0..{MAX_NODE}, lowercase x, wildcards only to the right)"
        )
    nodes = text.split(".")
    fixed = tuple(int(node) for node in nodes if node != WILDCARD)
    if any(node > MAX_NODE for node in fixed):
        raise InvalidInputError(
            f"invalid version selector {show_value(text)}: each number must be 0..{MAX_NODE}"
        )
    return VersionSelector(text=text, fixed=fixed)


def parse_version(text: object) -> SemVer | None:
    """Parse ``1.2.3`` into a tuple, or return None when it is not a valid version."""
    if not isinstance(text, str):
        return None
    match = _VERSION_RE.match(text)
    if match is None:
        return None
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    return version if max(version) <= MAX_NODE else None


def parse_build_version(text: object) -> tuple[SemVer, int] | None:
    """Parse ``1.2.3/4`` into ``((1, 2, 3), 4)``, or None when it is not a build version."""
    if not isinstance(text, str):
        return None
    match = _BUILD_VERSION_RE.match(text)
    if match is None:
        return None
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if max(version) > MAX_NODE:
        return None
    return version, int(match.group(4))


def format_version(version: SemVer) -> str:
    """Format a version tuple as ``major.minor.patch``."""
    return f"{version[0]}.{version[1]}.{version[2]}"
