"""Is a deployed pin still usable, and is it still what its lookup resolves?

For each deployed lookup: the pinned build (its physical id) is read with GetImage and
held to the lookup's own rules (a usable state; the promotion gates, so a build tagged
for exclusion after it was pinned is *revoked*; with ``RequireAmi`` an AMI in the stack's
region; with ``RequireContainer`` a container image there). An AMI-type pin whose AMI in the
stack's region EC2 no longer has is unusable whatever the lookup feeds (a recipe's parent
image needs the AMI too). The AMI is the one the stack's account launches (``ami_choice``).
Then the lookup runs again with the deployed properties, exactly as the handler would, and
the two builds are compared: how many versions and builds behind, how many days apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from image_lookup.ami_choice import choose_ami
from image_lookup.contract import Attribute
from image_lookup.deadline import Deadline
from image_lookup.errors import ImageLookupError, InvalidInputError
from image_lookup.gates import parse_date_created
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.lookup_runner import lookup_image
from image_lookup.models import ImageBuild, LookupRequest, arn_account
from image_lookup.outputs import build_attributes
from image_lookup.properties import parse_properties
from image_lookup.ranking import rank_candidates
from image_lookup.versions import SemVer, parse_build_version, parse_version
from latest_image_build_cli.aws_session import AccountClients, client_failure, lookup_failure
from latest_image_build_cli.deployed_properties import Evaluation, evaluate_properties
from latest_image_build_cli.deployed_stacks import LookupSite

CURRENT = "current"
STALE = "stale"
UNUSABLE = "unusable"
UNKNOWN = "unknown"
#: An account or region that could not be read (fleet checks): no lookup was seen there.
UNREAD = "unread"
#: When the properties cannot be evaluated, the most lenient reading of "usable":
#: only a build that no reading would accept is called unusable.
ANY_USABLE_STATE = frozenset({"AVAILABLE", "DEPRECATED"})
#: AMI ids per DescribeImages call (one ``image-id`` filter).
AMI_BATCH = 100


class Pinned(NamedTuple):
    """The build a deployed lookup pins."""

    arn: str
    build_version: str
    """``1.2.0/3``, as the service wrote it (from the ARN when the build is gone)."""
    state: str = ""
    """The build's state now; empty when Image Builder no longer has it."""
    date_created: str = ""
    ami_id: str = ""
    """The build's AMI in the stack's region, if any."""


class Behind(NamedTuple):
    """How far the pinned build is behind what the lookup resolves now."""

    versions: int | None = None
    """Matching versions newer than the pinned one, up to the resolved one."""
    builds: int | None = None
    """Newer builds of the pinned version (when the resolved build is of the same version)."""
    days: int | None = None
    """Days between the two builds' creation."""

    def describe(self) -> str:
        """``2 versions, 14 days`` or ``1 build, 3 days``."""
        parts = []
        if self.versions:
            parts.append(_count(self.versions, "version"))
        if self.builds:
            parts.append(_count(self.builds, "build"))
        if self.days is not None:
            parts.append(_count(self.days, "day"))
        return ", ".join(parts)


class LookupCheck(NamedTuple):
    """The verdict on one deployed lookup."""

    stack: str
    lookup: str
    """The construct path, else the logical id; ``(stack)`` for a stack that was not read."""
    logical_id: str
    status: str
    """``current``, ``stale``, ``unusable``, ``unknown``; ``unread`` for an account or region
    that could not be read."""
    problem: str = ""
    """Why the pin is unusable, or why it could not be checked."""
    pinned: Pinned | None = None
    now: Mapping[str, str] | None = None
    """What the lookup resolves now (the handler's ``Data``), when it resolves."""
    behind: Behind | None = None
    properties: Mapping[str, Any] | None = None
    """The deployed properties as evaluated."""
    account: str = ""
    """The stack's account (from its ARN), or the account that could not be read."""
    region: str = ""
    """The stack's region."""


class _PinState(NamedTuple):
    """A lookup after its pinned build was read, before the lookup runs again."""

    site: LookupSite
    evaluation: Evaluation
    request: LookupRequest | None
    pinned: Pinned | None
    build: ImageBuild | None
    unusable: str = ""
    unknown: str = ""
    ami_to_confirm: str = ""


class PinChecker:
    """Checks deployed lookups of one region."""

    def __init__(self, clients: AccountClients, region: str, timeout: float, now: datetime) -> None:
        self._clients = clients
        self._region = region
        self._timeout = timeout
        self._now = now

    def check(self, sites: Sequence[LookupSite]) -> list[LookupCheck]:
        """The verdict on every site, in order."""
        states = [self._read_pin(site) for site in sites]
        present = self._amis_present([state.ami_to_confirm for state in states])
        return [self._finish(self._confirm_ami(state, present)) for state in states]

    # ----- the pinned build ----------------------------------------------------------
    def _read_pin(self, site: LookupSite) -> _PinState:
        evaluation = evaluate_properties(site.properties, site.stack)
        request: LookupRequest | None = None
        unknown = ""
        if evaluation.unevaluable:
            unknown = "cannot evaluate " + "; ".join(evaluation.unevaluable)
        else:
            try:
                request = parse_properties(evaluation.properties)
            except InvalidInputError as error:
                unknown = f"deployed properties are invalid: {error.reason}"
        parsed = _parse_build_arn(site.physical_id)
        if parsed is None:
            return _PinState(
                site, evaluation, request, None, None,
                unknown=f"no pinned build: physical id {site.physical_id!r} is not an image "
                f"build ARN (resource {site.resource_status or 'status unknown'})",
            )  # fmt: skip
        build_region, build_version = parsed
        pinned = Pinned(arn=site.physical_id, build_version=build_version)
        try:
            build = self._gateway(build_region).get_image(site.physical_id)
        except ImageLookupError as error:
            return _PinState(
                site, evaluation, request, pinned, None,
                unknown=f"cannot read the pinned build: {lookup_failure(error, self._timeout)}",
            )  # fmt: skip
        if build is None:
            return _PinState(
                site, evaluation, request, pinned, None,
                unusable="deleted: Image Builder no longer has this build", unknown=unknown,
            )  # fmt: skip
        chosen = choose_ami(
            build.amis, site.stack.region, site.stack.account or None, arn_account(build.arn)
        )
        ami = chosen.image_id if chosen else ""
        pinned = pinned._replace(
            build_version=build.build_version_text or build_version,
            state=build.state,
            date_created=build.date_created,
            ami_id=ami,
        )
        usable_states = request.usable_states if request else ANY_USABLE_STATE
        if build.state not in usable_states:
            unusable = f"state {build.state or 'unknown'}"
            return _PinState(site, evaluation, request, pinned, build, unusable, unknown)
        if request is None:
            # the properties are unknown, the pinned AMI is not: a deregistered one is unusable
            return _PinState(
                site, evaluation, request, pinned, build, unknown=unknown, ami_to_confirm=ami
            )  # fmt: skip
        rejection = request.gates.rejection(dict(build.tags), build.date_created, self._now)
        if rejection is not None:
            return _PinState(site, evaluation, request, pinned, build, f"revoked: {rejection}")
        container = build_attributes(build, site.stack.region, site.stack.account)[
            Attribute.CONTAINER_IMAGE_URI
        ]
        if request.require_container and not container:
            unusable = f"no container image in {site.stack.region}"
            return _PinState(site, evaluation, request, pinned, build, unusable)
        if request.require_ami and not ami:
            unusable = f"no AMI in {site.stack.region}"
            return _PinState(site, evaluation, request, pinned, build, unusable)
        return _PinState(site, evaluation, request, pinned, build, ami_to_confirm=ami)

    def _amis_present(self, amis: Iterable[str]) -> dict[str, str] | str:
        """The AMIs of ``amis`` that EC2 still lists in the region, with their state; or why
        they cannot be known.

        DescribeImages leaves out deregistered AMIs (after a short while; until then they
        show state ``deregistered``) and disabled ones, and fails on an unknown id when
        asked by ``ImageIds``; a filter on ``image-id`` answers with those that exist
        (EC2 API reference, DescribeImages).
        """
        wanted = sorted({ami for ami in amis if ami})
        if not wanted:
            return {}
        client: Any = self._clients.client("ec2", self._region)
        present: dict[str, str] = {}
        try:
            for start in range(0, len(wanted), AMI_BATCH):
                batch = wanted[start : start + AMI_BATCH]
                pages = client.get_paginator("describe_images").paginate(
                    Filters=[{"Name": "image-id", "Values": batch}], IncludeDeprecated=True
                )
                for page in pages:
                    present.update(
                        (image["ImageId"], str(image.get("State") or ""))
                        for image in page.get("Images") or []
                    )
        except ClientError as error:
            return client_failure(error, "ec2:DescribeImages")
        return present

    def _confirm_ami(self, state: _PinState, present: dict[str, str] | str) -> _PinState:
        ami, region = state.ami_to_confirm, state.site.stack.region
        if not ami or state.unusable:
            return state
        if isinstance(present, str):
            unknown = "; ".join(
                n for n in (state.unknown, f"cannot confirm AMI {ami}: {present}") if n
            )
            return state._replace(unknown=unknown)
        ec2_state = present.get(ami)
        if ec2_state is None or ec2_state == "deregistered":
            return state._replace(
                unusable=f"AMI {ami} is deregistered (or disabled): EC2 no longer lists it in "
                f"{region}"
            )
        if ec2_state != "available":
            return state._replace(unusable=f"AMI {ami} in {region} is {ec2_state}, not available")
        return state

    # ----- what the lookup resolves now ----------------------------------------------
    def _finish(self, state: _PinState) -> LookupCheck:
        site = state.site
        verdict = LookupCheck(
            stack=site.stack.stack_name,
            lookup=site.path,
            logical_id=site.logical_id,
            status=UNKNOWN,
            pinned=state.pinned,
            properties=state.evaluation.properties,
            account=site.stack.account,
            region=site.stack.region,
        )
        now: dict[str, str] | None = None
        failure = ""
        if state.request is not None:
            deadline = Deadline(reserve_seconds=0.0, budget_seconds=self._timeout)
            # as in the handler: without a Region property, the stack's region
            gateway = self._clients.image_builder(
                state.request.region or site.stack.region or self._region, deadline
            )
            try:
                now = lookup_image(
                    state.request,
                    deadline,
                    deploy_region=site.stack.region,
                    account_id=site.stack.account or None,
                    log_context={"stack": site.stack.stack_name, "logical_id": site.logical_id},
                    now=self._now,
                    gateway=gateway,
                )
            except ImageLookupError as error:
                failure = f"the lookup fails now: {lookup_failure(error, self._timeout)}"
        behind = self._behind(state, now)
        verdict = verdict._replace(now=now, behind=behind)
        if state.unusable:
            notes = [state.unusable, state.unknown, failure]
            return verdict._replace(status=UNUSABLE, problem="; ".join(n for n in notes if n))
        if state.unknown or failure or now is None or state.pinned is None:
            return verdict._replace(problem=state.unknown or failure)
        if now[Attribute.IMAGE_BUILD_VERSION_ARN] == state.pinned.arn:
            return verdict._replace(status=CURRENT)
        return verdict._replace(status=STALE)

    def _behind(self, state: _PinState, now: Mapping[str, str] | None) -> Behind | None:
        if now is None or state.pinned is None or state.request is None:
            return None
        if now[Attribute.IMAGE_BUILD_VERSION_ARN] == state.pinned.arn:
            return Behind(versions=0, builds=0, days=0)
        pinned = parse_build_version(state.pinned.build_version)
        resolved = parse_build_version(now[Attribute.BUILD_VERSION])
        if pinned is None or resolved is None:
            return None
        pinned_created = parse_date_created(state.pinned.date_created)
        resolved_created = parse_date_created(now[Attribute.DATE_CREATED])
        days = (
            (resolved_created - pinned_created).days
            if pinned_created is not None and resolved_created is not None
            else None
        )
        if resolved <= pinned:
            return None  # the lookup now resolves an older build: the pin is not behind
        if pinned[0] == resolved[0]:
            return Behind(versions=0, builds=resolved[1] - pinned[1], days=days)
        versions = self._versions_between(state, now, pinned[0], resolved[0])
        return Behind(versions=versions, builds=None, days=days)

    def _versions_between(
        self, state: _PinState, now: Mapping[str, str], pinned: SemVer, resolved: SemVer
    ) -> int | None:
        """Matching versions above the pinned one up to the resolved one.

        One ListImages listing, by the name the service gave the resolved build.
        """
        request = state.request
        assert request is not None
        region = _parse_build_arn(now[Attribute.IMAGE_BUILD_VERSION_ARN])
        try:
            listed = self._gateway(region[0] if region else self._region).image_versions(
                owner=request.owner.value,
                name_filter=now[Attribute.IMAGE_NAME],
                filters=request.filters.as_pairs(),
                include_deprecated=request.include_deprecated,
            )
            matching = rank_candidates(listed, request).matching
        except ImageLookupError:
            return None
        return sum(1 for ref in matching if pinned < ref.version <= resolved)

    def _gateway(self, region: str) -> ImageBuilderGateway:
        deadline = Deadline(reserve_seconds=0.0, budget_seconds=self._timeout)
        return self._clients.image_builder(region, deadline)


def _parse_build_arn(arn: str) -> tuple[str, str] | None:
    """``(region, "1.2.0/3")`` of an image build ARN
    (``arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.2.0/3``), or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "imagebuilder":
        return None
    segments = parts[5].split("/")
    if len(segments) != 4 or segments[0] != "image":
        return None
    build_version = f"{segments[2]}/{segments[3]}"
    if parse_version(segments[2]) is None or parse_build_version(build_version) is None:
        return None
    return parts[3], build_version


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}{'' if number == 1 else 's'}"
