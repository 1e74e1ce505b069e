"""Plain data types shared by the parser, the resolver and the service gateway."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from image_lookup.selector import SemVer, VersionSelector, format_version


class ImageOwner(str, Enum):
    """Who owns the image; the values are the ListImages API's ``owner`` strings."""

    SELF = "Self"
    SHARED = "Shared"
    AMAZON = "Amazon"
    THIRD_PARTY = "ThirdParty"
    AWS_MARKETPLACE = "AWSMarketplace"


class ImageType(str, Enum):
    """What the image's builds produce."""

    AMI = "AMI"
    DOCKER = "DOCKER"


#: Build states that can be pinned. DEPRECATED joins them only with include_deprecated.
USABLE_STATES = frozenset({"AVAILABLE"})
USABLE_STATES_WITH_DEPRECATED = frozenset({"AVAILABLE", "DEPRECATED"})


class LookupRequest(NamedTuple):
    """What to look up: one image name, a selector and optional filters."""

    image_name: str
    selector: VersionSelector
    owner: ImageOwner = ImageOwner.SELF
    platform: str | None = None
    os_version: str | None = None
    image_type: ImageType | None = None
    include_deprecated: bool = False
    region: str | None = None

    @property
    def usable_states(self) -> frozenset[str]:
        """Build states this request accepts."""
        return USABLE_STATES_WITH_DEPRECATED if self.include_deprecated else USABLE_STATES

    def describe(self) -> str:
        """Short human description used in reasons: image, selector and owner."""
        return (
            f"image {self.image_name!r} version {self.selector.text!r} owner {self.owner.value!r}"
        )


class ImageVersionRef(NamedTuple):
    """One version of an image as ListImages reports it."""

    arn: str
    name: str
    version: SemVer
    image_type: str = ""
    platform: str = ""
    os_version: str = ""

    @property
    def version_text(self) -> str:
        """The version as ``major.minor.patch``."""
        return format_version(self.version)


class AmiOutput(NamedTuple):
    """One AMI a build distributed: region, account and id."""

    region: str
    image_id: str
    account_id: str = ""


class ContainerOutput(NamedTuple):
    """Container image URIs a build pushed in one region."""

    region: str
    image_uris: tuple[str, ...] = ()


class ImageBuild(NamedTuple):
    """One build of a version (``1.2.3/4``) with its state and outputs."""

    arn: str
    name: str
    version: SemVer
    build_number: int
    state: str
    image_type: str = ""
    platform: str = ""
    os_version: str = ""
    date_created: str = ""
    amis: tuple[AmiOutput, ...] = ()
    containers: tuple[ContainerOutput, ...] = ()

    @property
    def build_version_text(self) -> str:
        """The build version as ``major.minor.patch/build``."""
        return f"{format_version(self.version)}/{self.build_number}"
