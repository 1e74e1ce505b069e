"""Pure selection rules: which listed versions match, in what order, and which build wins."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from image_lookup.models import ImageBuild, ImageVersionRef, LookupRequest
from image_lookup.selector import SemVer, format_version


class Candidates(NamedTuple):
    """Versions of the exact image name, split into those the selector matches and the rest."""

    matching: tuple[ImageVersionRef, ...]
    """Matching versions, highest first, one entry per version."""
    seen_versions: tuple[SemVer, ...]
    """Every distinct version of the image that was listed, highest first."""


def rank_candidates(listed: Iterable[ImageVersionRef], request: LookupRequest) -> Candidates:
    """Keep the exact name and the requested filters, drop duplicates, order highest first.

    The service's name filter is a prefix/wildcard match and a page may carry
    other images, so the name and filters are checked again here.
    """
    name = request.image_name
    has_filters = bool(request.platform or request.os_version or request.image_type)
    by_version: dict[SemVer, ImageVersionRef] = {}
    for ref in listed:
        if ref.name == name and (not has_filters or _filters_match(ref, request)):
            by_version.setdefault(ref.version, ref)
    seen = sorted(by_version, reverse=True)
    matches = request.selector.matches
    matching = tuple(by_version[v] for v in seen if matches(v))
    return Candidates(matching=matching, seen_versions=tuple(seen))


def pick_build(
    builds: Iterable[ImageBuild], request: LookupRequest, version: SemVer
) -> ImageBuild | None:
    """The newest build of ``version`` in a usable state, or None.

    What the service returns is checked rather than trusted: the name, the
    version and the state must all agree with the request.
    """
    usable = [
        build
        for build in builds
        if build.name == request.image_name
        and build.version == version
        and build.state in request.usable_states
    ]
    return max(usable, key=lambda build: build.build_number, default=None)


def summarize_versions(versions: Iterable[SemVer], limit: int = 12) -> str:
    """``1.2.0, 1.1.0 and 40 more`` (highest first), or ``none``; short enough for a reason."""
    shown: list[str] = []
    total = 0
    for version in versions:
        total += 1
        if len(shown) < limit:
            shown.append(format_version(version))
    if not shown:
        return "none"
    extra = total - len(shown)
    return ", ".join(shown) + (f" and {extra} more" if extra else "")


def _filters_match(ref: ImageVersionRef, request: LookupRequest) -> bool:
    # A field the service left out is not held against the entry.
    wanted = (
        (request.platform, ref.platform),
        (request.os_version, ref.os_version),
        (request.image_type.value if request.image_type else None, ref.image_type),
    )
    return all(not want or not have or want == have for want, have in wanted)
