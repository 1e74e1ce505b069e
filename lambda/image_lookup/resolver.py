"""Resolve a LookupRequest to one build: which calls to make, in what order.

1. Where the image's account is known (``image_account``, own images, Amazon's) and
   neither filters, gates nor ``include_deprecated`` are asked for, one GetImage on the wildcard ARN
   (``.../image/<name>/1.x.x``): the service resolves it to the newest AVAILABLE
   build of the highest matching version.
2. Otherwise, or when that finds nothing: list the versions, rank them, and ask
   for each one's builds, newest version first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import NamedTuple

from image_lookup.contract import lists_builds, owner_account
from image_lookup.errors import (
    MAX_REASON_LENGTH,
    AmbiguousImageError,
    NoMatchingImageError,
    one_line,
)
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.models import ImageBuild, ImageVersionRef, LookupRequest, arn_name
from image_lookup.ranking import (
    Candidates,
    is_usable,
    pick,
    rank_candidates,
    summarize_rejections,
    summarize_versions,
)

NO_CANDIDATES = Candidates(matching=(), seen_versions=())


class Resolution(NamedTuple):
    """The winning build and what was considered on the way."""

    build: ImageBuild
    candidates: Candidates
    versions_tried: int
    listed: ImageVersionRef | None = None
    """The build's version as ListImages reported it, when it was listed."""


def resolve(
    request: LookupRequest,
    gateway: ImageBuilderGateway,
    own_account: str | None = None,
    now: datetime | None = None,
) -> Resolution:
    """The newest usable build of the highest matching version; else NoMatchingImageError.

    ``now`` is when promotion gates measure build ages from (default: the clock).
    """
    now = now or datetime.now(timezone.utc)
    gated = request.gates.active
    build_lists = lists_builds(
        request.owner.value, include_deprecated=request.include_deprecated, gated=gated
    )
    account = owner_account(request.owner.value, own_account, request.image_account)
    one_call = not (request.filters.as_pairs() or request.include_deprecated or gated)
    if account is not None and one_call:
        wildcard_arn = (
            f"arn:{gateway.partition}:imagebuilder:{gateway.region}:{account}:image/"
            f"{arn_name(request.image_name)}/{request.selector.text}"
        )
        build = gateway.get_image(wildcard_arn)
        if build is not None and is_usable(build, request):
            return Resolution(build=build, candidates=NO_CANDIDATES, versions_tried=1)
    candidates = _list_candidates(request, gateway)
    if len(candidates.accounts) > 1:
        raise AmbiguousImageError(
            f"{request.describe()} names images of {len(candidates.accounts)} accounts "
            f"({', '.join(candidates.accounts)}): set image_account (CLI --account) to the one "
            "to pin from"
        )
    rejections: list[str] = []
    for tried, ref in enumerate(candidates.matching, start=1):
        builds = gateway.builds(ref.arn) if build_lists else _newest_available(ref, gateway)
        picked = pick(builds, request, ref.version, now)
        rejections.extend(picked.rejections)
        if picked.build is not None:
            return Resolution(picked.build, candidates, versions_tried=tried, listed=ref)
    raise NoMatchingImageError(_no_match_reason(request, candidates, gateway.region, rejections))


def _list_candidates(request: LookupRequest, gateway: ImageBuilderGateway) -> Candidates:
    def listing(name_filter: str | None) -> Candidates:
        listed = gateway.image_versions(
            owner=request.owner.value,
            name_filter=name_filter,
            filters=request.filters.as_pairs(),
            include_deprecated=request.include_deprecated,
        )
        return rank_candidates(listed, request)

    candidates = listing(request.image_name)
    if not candidates.seen_versions and request.image_name == arn_name(request.image_name):
        # An ARN-form name ("amazon-linux-2023-x86") of an image listed by display
        # name ("Amazon Linux 2023 x86"): the name filter cannot find it, so list
        # the owner's images without it and match both forms here.
        candidates = listing(None)
    return candidates


def _newest_available(ref: ImageVersionRef, gateway: ImageBuilderGateway) -> Iterable[ImageBuild]:
    # GetImage on a version ARN answers with its newest AVAILABLE build, for any
    # image the caller can see; ListImageBuildVersions only answers an image's owner.
    build = gateway.get_image(ref.arn)
    return [build] if build is not None else []


def _no_match_reason(
    request: LookupRequest, candidates: Candidates, region: str, rejections: list[str]
) -> str:
    where = f"{request.describe()} in region {region}"
    seen = summarize_versions(candidates.seen_versions)
    filters = request.filters.describe()
    if rejections:
        # The reason is one line of at most 1 KB: the list of rejected builds gives way
        # first, so "versions seen" always survives.
        head = f"no build passes the promotion gates ({request.gates.describe()}) for {where}: "
        tail = f"; versions seen: {seen}"
        room = MAX_REASON_LENGTH - len(one_line(head + tail)) - 1
        return head + one_line(summarize_rejections(rejections), max(room, 20)) + tail
    if not candidates.seen_versions:
        return f"no image found for {where}{filters}; versions seen: none"
    if not candidates.matching:
        return f"no version matches for {where}{filters}; versions seen: {seen}"
    states = " or ".join(sorted(request.usable_states))
    matching = summarize_versions(ref.version_text for ref in candidates.matching)
    return (
        f"no {states} build for {where}: matching versions {matching} have none "
        f"(all failed, in progress, deprecated, disabled or deleted); versions seen: {seen}"
    )
