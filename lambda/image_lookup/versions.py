"""Version parsing: wildcard selectors, service version text, numeric order.

Pure functions only: no I/O, no AWS. Image Builder versions have three nodes
(``major.minor.patch``) assigned by the user and a fourth, the build number,
assigned by the service (``1.2.3/4``). Parsing uses ``str`` methods rather than
regular expressions: it runs for every listed version and keeps import time low.
"""

from __future__ import annotations

from typing import NamedTuple

from image_lookup.errors import InvalidInputError, show_value

#: Largest value Image Builder accepts in a version node (2**30 - 1).
MAX_NODE = 1073741823
WILDCARD = "x"
_DIGITS = frozenset("0123456789")
#: Longest node text read (leading zeros included); longer ones are not versions.
_MAX_NODE_DIGITS = 32

SemVer = tuple[int, int, int]


class VersionSelector(NamedTuple):
    """A parsed selector: the fixed leading nodes; the rest are wildcards."""

    text: str
    fixed: tuple[int, ...]

    def matches(self, version: SemVer) -> bool:
        """True when ``version`` agrees with every fixed node of the selector."""
        return version[: len(self.fixed)] == self.fixed


def parse_selector(text: str) -> VersionSelector:
    """Parse ``x.x.x``, ``1.x.x``, ``1.2.x`` or ``1.2.3``; raise InvalidInputError otherwise."""
    nodes = text.split(".") if isinstance(text, str) else []
    first_wildcard = nodes.index(WILDCARD) if WILDCARD in nodes else len(nodes)
    fixed = [_node(node) for node in nodes[:first_wildcard]]
    wildcards_only_to_the_right = all(node == WILDCARD for node in nodes[first_wildcard:])
    if len(nodes) != 3 or None in fixed or not wildcards_only_to_the_right:
        raise InvalidInputError(
            f"invalid version selector {show_value(text)}: use x.x.x, 1.x.x, 1.2.x or 1.2.3 "
            f"(numbers 0..{MAX_NODE}, lowercase x, wildcards only to the right)"
        )
    return VersionSelector(text=text, fixed=tuple(n for n in fixed if n is not None))


def parse_version(text: object) -> SemVer | None:
    """Parse ``1.2.3`` into a tuple, or return None when it is not a valid version."""
    if not isinstance(text, str):
        return None
    nodes = text.split(".")
    if len(nodes) != 3:
        return None
    major, minor, patch = (_node(node) for node in nodes)
    if major is None or minor is None or patch is None:
        return None
    return major, minor, patch


def parse_build_version(text: object) -> tuple[SemVer, int] | None:
    """Parse ``1.2.3/4`` into ``((1, 2, 3), 4)``, or None when it is not a build version."""
    if not isinstance(text, str) or text.count("/") != 1:
        return None
    version_text, build_text = text.split("/")
    version = parse_version(version_text)
    build = _node(build_text)
    if version is None or build is None:
        return None
    return version, build


def _node(text: str) -> int | None:
    """One node: ASCII digits worth 0..MAX_NODE.

    Leading zeros are allowed and compare as numbers: the service keeps versions
    such as ``2019.12.03`` (AWS CLI ``list-images`` example), so a selector
    ``2019.12.03`` must pin it. Versions are always shown as the service wrote them.
    """
    if not text or len(text) > _MAX_NODE_DIGITS or not _DIGITS.issuperset(text):
        return None
    number = int(text)
    return number if number <= MAX_NODE else None
