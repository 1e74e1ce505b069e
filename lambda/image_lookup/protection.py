"""Which tags protect a pinned build from lifecycle policies, and when they may go (pure rules).

A protected build and its AMIs carry two kinds of tag:

* the marker ``latest-image-build:protected`` = ``true``, which the exclusion rules of an
  Image Builder lifecycle policy match (``LatestImageBuild.lifecycle_exclusion_rules()``);
* one ``latest-image-build:pinned-by:<16 hex digits>`` tag per lookup that pins it, the
  digits a hash of the stack's id and the lookup's logical id, the value
  ``<region>/<stack name>/<logical id>`` saying who.

A release removes its own pinned-by tag and the marker only when no pinned-by tag remains,
so a build pinned by several stacks (or several lookups of one stack) stays protected until
the last of them lets go.

Limits (botocore's ``imagebuilder`` model, TagKey / TagValue; EC2 User Guide, "Tag
restrictions"): keys of 1-128 characters matching ``^(?!aws:)[a-zA-Z0-9\\s_.:/=+\\-@]*$``,
values of at most 256. A stack name alone may be 128 characters, hence the hash in the key;
values use only characters both services accept everywhere (``-._:/``, letters, digits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from image_lookup.contract import GET_IMAGE, PROTECT_PINNED_BUILD
from image_lookup.errors import InvalidInputError, show_value
from image_lookup.models import ImageBuild, arn_account

TAG_PREFIX = "latest-image-build:"
PROTECTED_TAG_KEY = f"{TAG_PREFIX}protected"
PROTECTED_TAG_VALUE = "true"
PINNED_BY_PREFIX = f"{TAG_PREFIX}pinned-by:"
#: Hex digits of the hash in a pinned-by key: 64 bits, no collision in any one account.
PINNED_BY_HASH_LENGTH = 16
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256

#: IAM actions protection needs: read the build (its AMIs and tags), tag it, tag its AMIs,
#: and find the AMIs of a build that is gone (DescribeImages has no resource type).
BUILD_READ_ACTION = GET_IMAGE
BUILD_TAG_ACTIONS = ("imagebuilder:TagResource", "imagebuilder:UntagResource")
AMI_TAG_ACTIONS = ("ec2:CreateTags", "ec2:DeleteTags")
AMI_READ_ACTION = "ec2:DescribeImages"


class Pinner(NamedTuple):
    """One lookup that pins a build: the stack (by id) and the custom resource's logical id."""

    stack_id: str
    logical_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Pinner:
        """The pinner named by a custom resource event: ``StackId``, ``LogicalResourceId``."""
        stack_id = str(event.get("StackId") or "")
        logical_id = str(event.get("LogicalResourceId") or "")
        if len(stack_id.split(":")) < 6 or not stack_id.startswith("arn:") or not logical_id:
            raise InvalidInputError(
                f"cannot tell which stack pins the build: StackId {show_value(stack_id)}, "
                f"LogicalResourceId {show_value(logical_id)}"
            )
        return cls(stack_id, logical_id)

    @property
    def region(self) -> str:
        """The stack's region (from its id)."""
        return self.stack_id.split(":")[3]

    @property
    def account(self) -> str:
        """The stack's account (from its id)."""
        return self.stack_id.split(":")[4]

    @property
    def stack_name(self) -> str:
        """``arn:...:stack/<name>/<uuid>`` -> ``<name>``."""
        resource = self.stack_id.split(":", 5)[5]
        parts = resource.split("/")
        return parts[1] if len(parts) >= 2 else resource

    @property
    def tag_key(self) -> str:
        """This lookup's pinned-by key; the same on every deploy of this stack's resource."""
        digest = hashlib.sha256(f"{self.stack_id}|{self.logical_id}".encode()).hexdigest()
        return PINNED_BY_PREFIX + digest[:PINNED_BY_HASH_LENGTH]

    @property
    def tag_value(self) -> str:
        """``<region>/<stack name>/<logical id>``, cut to the services' 256 characters."""
        return f"{self.region}/{self.stack_name}/{self.logical_id}"[:MAX_TAG_VALUE_LENGTH]

    def tags(self) -> dict[str, str]:
        """The tags a protect writes: the marker and this lookup's pinned-by tag."""
        return {PROTECTED_TAG_KEY: PROTECTED_TAG_VALUE, self.tag_key: self.tag_value}


def pinned_by(tags: Mapping[str, str] | tuple[tuple[str, str], ...]) -> frozenset[str]:
    """The pinned-by keys among ``tags``."""
    pairs = tags.items() if isinstance(tags, Mapping) else tags
    return frozenset(key for key, _ in pairs if key.startswith(PINNED_BY_PREFIX))


def marker_may_go(tags: Mapping[str, str] | tuple[tuple[str, str], ...], releasing: str) -> bool:
    """True when no pinned-by tag but ``releasing`` (already being removed) is left."""
    return not (pinned_by(tags) - {releasing})


def protection_requested(properties: object) -> bool:
    """Whether ResourceProperties ask for protection; never raises (Delete reads it).

    Delete events carry the resource's properties; they are not validated again
    there (a Delete never fails), so only ``ProtectPinnedBuild`` is read.
    """
    if not isinstance(properties, Mapping):
        return False
    value = properties.get(PROTECT_PINNED_BUILD.key)
    return isinstance(value, str) and value.lower() == "true"


def check_owned(build_arn: str, account: str) -> None:
    """Refuse to protect another account's build: only an image's owner can tag it.

    Lifecycle policies act on their own account's images only, so there is
    nothing to protect elsewhere.
    """
    owner = arn_account(build_arn)
    if owner != account:
        raise InvalidInputError(
            f"protect_pinned_build needs an image this account ({account}) owns; "
            f"build {build_arn} belongs to {show_value(owner)}: only its owner can tag it "
            "and only its owner's lifecycle policies act on it"
        )


def amis_by_region(build: ImageBuild, account: str) -> dict[str, tuple[str, ...]]:
    """The build's AMIs in ``account``, by region (copies shared to other accounts are theirs)."""
    found: dict[str, list[str]] = {}
    for ami in build.amis:
        if ami.image_id and ami.region and ami.account_id in ("", account):
            ids = found.setdefault(ami.region, [])
            if ami.image_id not in ids:
                ids.append(ami.image_id)
    return {region: tuple(ids) for region, ids in sorted(found.items())}
