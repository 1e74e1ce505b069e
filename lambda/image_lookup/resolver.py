"""Resolve a LookupRequest to one build: list, rank, then ask for builds newest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from image_lookup.errors import NoMatchingImageError
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.models import ImageBuild, ImageOwner, ImageVersionRef, LookupRequest
from image_lookup.selection import Candidates, pick_build, rank_candidates, summarize_versions


class Resolution(NamedTuple):
    """The winning build, the version it belongs to, and what was considered."""

    build: ImageBuild
    version: ImageVersionRef
    candidates: Candidates
    versions_tried: int


def resolve(request: LookupRequest, gateway: ImageBuilderGateway) -> Resolution:
    """The newest usable build of the highest matching version; else NoMatchingImageError."""
    candidates = rank_candidates(gateway.image_versions(request), request)
    for tried, ref in enumerate(candidates.matching, start=1):
        build = pick_build(_builds_of(ref, request, gateway), request, ref.version)
        if build is not None:
            return Resolution(build=build, version=ref, candidates=candidates, versions_tried=tried)
    raise NoMatchingImageError(_no_match_reason(request, candidates, gateway.region))


def _builds_of(
    ref: ImageVersionRef, request: LookupRequest, gateway: ImageBuilderGateway
) -> Iterable[ImageBuild]:
    # Only an image's owner may list its builds; DEPRECATED builds are reachable
    # no other way. For everyone else GetImage on the version ARN returns the
    # newest AVAILABLE build in one call.
    if request.include_deprecated and request.owner is ImageOwner.SELF:
        return gateway.builds(ref.arn)
    latest: ImageBuild | None = gateway.latest_available_build(ref.arn)
    return [latest] if latest is not None else []


def _no_match_reason(request: LookupRequest, candidates: Candidates, region: str) -> str:
    where = f"{request.describe()} in region {region}"
    seen = summarize_versions(candidates.seen_versions)
    if not candidates.seen_versions:
        return f"no image found for {where}{_filters_text(request)}; versions seen: none"
    if not candidates.matching:
        return f"no version matches for {where}{_filters_text(request)}; versions seen: {seen}"
    states = " or ".join(sorted(request.usable_states))
    matching = summarize_versions(ref.version for ref in candidates.matching)
    return (
        f"no {states} build for {where}: matching versions {matching} have none "
        f"(all failed, in progress, deprecated, disabled or deleted); versions seen: {seen}"
    )


def _filters_text(request: LookupRequest) -> str:
    filters = [
        f"{label} {value!r}"
        for label, value in (
            ("platform", request.platform),
            ("OS version", request.os_version),
            ("type", request.image_type.value if request.image_type else None),
        )
        if value
    ]
    return f" with {', '.join(filters)}" if filters else ""
