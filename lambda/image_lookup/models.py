"""Plain data types shared by the parser, the rules, the resolver and the service gateway."""

from __future__ import annotations

from typing import NamedTuple

from image_lookup.contract import ImageOwner, ImageType
from image_lookup.gates import PromotionGates
from image_lookup.versions import SemVer, VersionSelector

#: Build states that can be pinned. DEPRECATED joins them only with include_deprecated.
USABLE_STATES = frozenset({"AVAILABLE"})
USABLE_STATES_WITH_DEPRECATED = frozenset({"AVAILABLE", "DEPRECATED"})


def arn_name(name: str) -> str:
    """An image name as its ARNs carry it: lowercase, spaces as hyphens.

    ListImages reports Amazon's images by display name ("Amazon Linux 2023 x86")
    while their ARNs say ``amazon-linux-2023-x86`` (the ARN pattern in botocore's
    model admits only ``[a-z0-9-_]`` there). Both forms name the same image.
    """
    return name.lower().replace(" ", "-")


def arn_account(arn: str) -> str:
    """The account field of an ARN (``aws`` for Amazon's images), or ``""``."""
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 else ""


class ImageFilters(NamedTuple):
    """The optional ListImages filters: platform, OS version and image type."""

    platform: str | None = None
    os_version: str | None = None
    image_type: ImageType | None = None

    def as_pairs(self) -> tuple[tuple[str, str], ...]:
        """``(API filter name, value)`` for each filter that is set."""
        pairs = (
            ("platform", self.platform),
            ("osVersion", self.os_version),
            ("type", self.image_type.value if self.image_type else None),
        )
        return tuple((name, value) for name, value in pairs if value)

    def admit(self, platform: str, os_version: str, image_type: str) -> bool:
        """True unless a reported field contradicts a filter (a missing field does not)."""
        reported = {"platform": platform, "osVersion": os_version, "type": image_type}
        return all(not reported[name] or reported[name] == value for name, value in self.as_pairs())

    def describe(self) -> str:
        """`` with platform 'Linux', type 'AMI'`` or ``""``; for reasons."""
        pairs = self.as_pairs()
        return " with " + ", ".join(f"{name} {value!r}" for name, value in pairs) if pairs else ""


class LookupRequest(NamedTuple):
    """What to look up: one image name, a selector and optional filters."""

    image_name: str
    selector: VersionSelector
    owner: ImageOwner = ImageOwner.SELF
    filters: ImageFilters = ImageFilters()
    include_deprecated: bool = False
    region: str | None = None
    gates: PromotionGates = PromotionGates()
    require_ami: bool = False
    image_account: str | None = None
    require_container: bool = False
    protect: bool = False

    @property
    def usable_states(self) -> frozenset[str]:
        """Build states this request accepts."""
        return USABLE_STATES_WITH_DEPRECATED if self.include_deprecated else USABLE_STATES

    def names(self, listed_name: str) -> bool:
        """True when the request names ``listed_name``: by that name, or by its ARN form.

        The one rule on every path: the requested name is the listed name exactly, or
        exactly the ARN's name segment (``amazon-linux-2023-x86`` for "Amazon Linux
        2023 x86"); any other spelling (``AMAZON-LINUX-2023-X86``) names nothing.
        """
        return listed_name == self.image_name or arn_name(listed_name) == self.image_name

    def admits_account(self, arn: str) -> bool:
        """True unless ``image_account`` is set and ``arn`` belongs to another account."""
        return self.image_account is None or arn_account(arn) == self.image_account

    def describe(self) -> str:
        """Short human description used in reasons: image, selector and owner."""
        account = f" account {self.image_account!r}" if self.image_account else ""
        return (
            f"image {self.image_name!r} version {self.selector.text!r} "
            f"owner {self.owner.value!r}{account}"
        )


class ImageVersionRef(NamedTuple):
    """One version of an image as ListImages reports it."""

    arn: str
    name: str
    version: SemVer
    version_text: str
    image_type: str = ""
    platform: str = ""
    os_version: str = ""


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
    build_version_text: str
    """The build version exactly as the service wrote it, e.g. ``2019.12.03/1``."""
    image_type: str = ""
    platform: str = ""
    os_version: str = ""
    date_created: str = ""
    amis: tuple[AmiOutput, ...] = ()
    containers: tuple[ContainerOutput, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def version_text(self) -> str:
        """The version part of ``build_version_text``, as the service wrote it."""
        return self.build_version_text.split("/")[0]

    @property
    def version_arn(self) -> str:
        """The ARN of the version this build belongs to (the build ARN less ``/n``)."""
        return self.arn.rsplit("/", 1)[0]
