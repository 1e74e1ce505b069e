"""Pure ranking rules: which listed versions match, in what order, and which build wins."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from image_lookup.models import ImageBuild, ImageVersionRef, LookupRequest, arn_account
from image_lookup.versions import SemVer


class Candidates(NamedTuple):
    """Versions of the requested image, split into those the selector matches and the rest."""

    matching: tuple[ImageVersionRef, ...]
    """Matching versions, highest first, one entry per version."""
    seen_versions: tuple[str, ...]
    """Every distinct version of the image that was listed, highest first, as listed."""
    accounts: tuple[str, ...] = ()
    """The accounts that own an image of this name (sorted); more than one is ambiguous."""


def rank_candidates(listed: Iterable[ImageVersionRef], request: LookupRequest) -> Candidates:
    """Keep the requested image and filters, drop duplicates, order highest first.

    A page may carry other images (the service's name filter is not exact), so
    the name, in either of its forms, and the filters are checked again here.
    """
    filters = request.filters
    has_filters = bool(filters.as_pairs())
    by_account: dict[str, dict[SemVer, ImageVersionRef]] = {}
    for ref in listed:
        if (
            request.names(ref.name)
            and request.admits_account(ref.arn)
            and (not has_filters or filters.admit(ref.platform, ref.os_version, ref.image_type))
        ):
            by_account.setdefault(arn_account(ref.arn), {}).setdefault(ref.version, ref)
    accounts = tuple(sorted(by_account))
    if len(accounts) != 1:
        # none, or a name several accounts own: the resolver reports it, never picks one
        return Candidates(matching=(), seen_versions=(), accounts=accounts)
    by_version = by_account[accounts[0]]
    seen = sorted(by_version, reverse=True)
    matches = request.selector.matches
    return Candidates(
        matching=tuple(by_version[v] for v in seen if matches(v)),
        seen_versions=tuple(by_version[v].version_text for v in seen),
        accounts=accounts,
    )


def is_usable(build: ImageBuild, request: LookupRequest, version: SemVer | None = None) -> bool:
    """Whether ``build`` may be pinned: the requested image, a matching version, a usable state.

    What the service returns is checked rather than trusted.
    """
    return (
        request.names(build.name)
        and request.admits_account(build.arn)
        and (version is None or build.version == version)
        and request.selector.matches(build.version)
        and build.state in request.usable_states
        and request.filters.admit(build.platform, build.os_version, build.image_type)
    )


class Pick(NamedTuple):
    """The winning build of a version, if any, and why newer usable builds lost."""

    build: ImageBuild | None
    rejections: tuple[str, ...] = ()
    """``1.4.0/3: 2 days old (needs 7 days)``, newest first."""


def pick(
    builds: Iterable[ImageBuild], request: LookupRequest, version: SemVer, now: datetime
) -> Pick:
    """The newest usable build of ``version`` that passes the request's promotion gates."""
    usable = sorted(
        (build for build in builds if is_usable(build, request, version)),
        key=lambda build: build.build_number,
        reverse=True,
    )
    rejections: list[str] = []
    for build in usable:
        reason = request.gates.rejection(dict(build.tags), build.date_created, now)
        if reason is None:
            return Pick(build, tuple(rejections))
        rejections.append(f"{build.build_version_text}: {reason}")
    return Pick(None, tuple(rejections))


def summarize_versions(versions: Iterable[str], limit: int = 12) -> str:
    """``1.2.0, 1.1.0 and 40 more`` (highest first), or ``none``; short enough for a reason."""
    shown: list[str] = []
    total = 0
    for version in versions:
        total += 1
        if len(shown) < limit:
            shown.append(version)
    if not shown:
        return "none"
    extra = total - len(shown)
    return ", ".join(shown) + (f" and {extra} more" if extra else "")


def summarize_rejections(rejections: Iterable[str]) -> str:
    """``1.4.0/3, 1.4.0/2: lacks stage=prod; 1.3.0/1: carries qa=failed`` (newest first).

    Builds rejected for the same reason share it, so a repeated gate's text is said once.
    """
    by_reason: dict[str, list[str]] = {}
    for rejection in rejections:
        build, _, reason = rejection.partition(": ")
        by_reason.setdefault(reason, []).append(build)
    return "; ".join(f"{summarize_versions(builds, 6)}: {r}" for r, builds in by_reason.items())
