"""The marker tag on a build and on its AMIs in the registry's account: on, off, and what
0.3.0 left (one ``pinned-by`` tag per lookup).

Image Builder tags the build; EC2 tags each AMI, region by region. AMI copies in
other accounts (a distribution's ``targetAccountIds``) are those accounts' own
resources: no role of the factory may tag them.
"""

from __future__ import annotations

from typing import Any

from image_lookup.deadline import Deadline
from image_lookup.ec2_api import Ec2Gateway
from image_lookup.errors import ServiceError
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.models import ImageBuild
from image_lookup.protection import (
    PINNED_BY_PREFIX,
    PROTECTED_TAG_KEY,
    PROTECTED_TAG_VALUE,
    amis_by_region,
    has_marker,
)
from image_lookup.retry import DEFAULT_RETRY_POLICY, RetryPolicy

MARKER = {PROTECTED_TAG_KEY: PROTECTED_TAG_VALUE}


class BuildMarker:
    """Puts the marker on and takes it off one account's builds; gateways made on first use."""

    def __init__(
        self, account: str, deadline: Deadline, policy: RetryPolicy = DEFAULT_RETRY_POLICY
    ) -> None:
        self.account = account
        self._deadline = deadline
        self._policy = policy
        self._image_builder: dict[str, ImageBuilderGateway] = {}
        self._ec2: dict[str, Ec2Gateway] = {}

    @property
    def calls(self) -> int:
        """Calls sent so far to Image Builder and EC2, retries included."""
        gateways: list[Any] = [*self._image_builder.values(), *self._ec2.values()]
        return sum(gateway.calls for gateway in gateways)

    def build(self, build_arn: str) -> ImageBuild | None:
        """The build (GetImage), or None when Image Builder no longer has it."""
        build = self._builds(build_arn).get_image(build_arn)
        return build if build is not None and build.arn == build_arn else None

    def mark(self, build: ImageBuild, *, drop_keys: tuple[str, ...] = ()) -> None:
        """Marker on the build (if missing), then on its AMIs; ``drop_keys`` come off both.

        Raises ServiceError (one line) when a tag cannot be written; an AMI that is
        gone has nothing to protect and is no failure.
        """
        tags = dict(build.tags)
        if not has_marker(tags) and not self._builds(build.arn).tag_resource(build.arn, MARKER):
            raise ServiceError(f"cannot protect build {build.arn}: Image Builder no longer has it")
        stale = tuple(key for key in drop_keys if key in tags)
        if stale:
            self._builds(build.arn).untag_resource(build.arn, stale)
        for region, image_ids in amis_by_region(build, self.account).items():
            self._amis(region).tag_images(image_ids, MARKER)
            if stale:
                self._amis(region).untag_images(image_ids, stale)

    def unmark(self, build: ImageBuild, *, drop_keys: tuple[str, ...] = ()) -> None:
        """Marker (and ``drop_keys``) off the build, then off its AMIs."""
        keys = (PROTECTED_TAG_KEY, *drop_keys)
        self._builds(build.arn).untag_resource(build.arn, keys)
        for region, image_ids in amis_by_region(build, self.account).items():
            self._amis(region).untag_images(image_ids, keys)

    def unmark_orphans(self, build_arn: str, *, drop_keys: tuple[str, ...] = ()) -> list[str]:
        """The build is gone; its AMIs may not be (DeleteImage "does not delete any EC2
        AMIs", Image Builder API reference): untag those in the build's region, found by
        the build ARN tag Image Builder put on them. Returns their ids."""
        region = build_arn.split(":")[3]
        found = self._amis(region).images_of_build(build_arn, PROTECTED_TAG_KEY)
        for image_id in sorted(found):
            self._amis(region).untag_images((image_id,), (PROTECTED_TAG_KEY, *drop_keys))
        return sorted(found)

    def _builds(self, build_arn: str) -> ImageBuilderGateway:
        region = build_arn.split(":")[3]
        if region not in self._image_builder:
            self._image_builder[region] = ImageBuilderGateway.for_region(
                region, self._deadline, self._policy
            )
        return self._image_builder[region]

    def _amis(self, region: str) -> Ec2Gateway:
        if region not in self._ec2:
            self._ec2[region] = Ec2Gateway.for_region(region, self._deadline, self._policy)
        return self._ec2[region]


def legacy_holders(build: ImageBuild) -> tuple[str, ...]:
    """The ``pinned-by`` keys 0.3.0 lookups left on the build: holders not yet migrated."""
    return tuple(sorted(key for key, _ in build.tags if key.startswith(PINNED_BY_PREFIX)))
