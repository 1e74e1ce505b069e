"""Which tags protect a pinned build from lifecycle policies (pure rules).

A build with at least one holder in its owner's pin registry (``pins``), and the
build's AMIs in its owner's account, carry one marker tag,
``latest-image-build:protected`` = ``true``, which the exclusion rules of an Image
Builder lifecycle policy match (``LatestImageBuild.lifecycle_exclusion_rules()``).
The number of tags never grows with the number of pinning stacks: a resource holds
at most 50 (botocore's ``imagebuilder`` model, TagMap; EC2 User Guide, "Tag
restrictions").

0.3.0 wrote one ``latest-image-build:pinned-by:<16 hex digits>`` tag per lookup
(the digits a hash of the stack's id and the lookup's logical id); the registry
removes such a tag when its lookup lets go.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from image_lookup.contract import GET_IMAGE, PROTECT_PINNED_BUILD
from image_lookup.models import ImageBuild
from image_lookup.pins import Holder

TAG_PREFIX = "latest-image-build:"
PROTECTED_TAG_KEY = f"{TAG_PREFIX}protected"
PROTECTED_TAG_VALUE = "true"
PINNED_BY_PREFIX = f"{TAG_PREFIX}pinned-by:"
#: Hex digits of the hash in a pinned-by key: 64 bits, no collision in any one account.
PINNED_BY_HASH_LENGTH = 16

#: IAM actions the registry needs: read the build (its AMIs and tags), tag it, tag its
#: AMIs, and find the AMIs of a build that is gone (DescribeImages has no resource type).
BUILD_READ_ACTION = GET_IMAGE
BUILD_TAG_ACTIONS = ("imagebuilder:TagResource", "imagebuilder:UntagResource")
AMI_TAG_ACTIONS = ("ec2:CreateTags", "ec2:DeleteTags")
AMI_READ_ACTION = "ec2:DescribeImages"


def legacy_tag_key(holder: Holder) -> str:
    """The ``pinned-by`` key 0.3.0 wrote for ``holder`` (removed when it lets go)."""
    digest = hashlib.sha256(f"{holder.stack_id}|{holder.logical_id}".encode()).hexdigest()
    return PINNED_BY_PREFIX + digest[:PINNED_BY_HASH_LENGTH]


def has_marker(tags: Mapping[str, str]) -> bool:
    """Whether ``tags`` hold the marker lifecycle exclusion rules match."""
    return tags.get(PROTECTED_TAG_KEY) == PROTECTED_TAG_VALUE


def protection_requested(properties: object) -> bool:
    """Whether ResourceProperties ask for protection; never raises (Delete reads it).

    Delete events carry the resource's properties; they are not validated again
    there (a Delete never fails), so only ``ProtectPinnedBuild`` is read.
    """
    if not isinstance(properties, Mapping):
        return False
    value = properties.get(PROTECT_PINNED_BUILD.key)
    return isinstance(value, str) and value.lower() == "true"


def amis_by_region(build: ImageBuild, account: str) -> dict[str, tuple[str, ...]]:
    """The build's AMIs in ``account``, by region (copies shared to other accounts are theirs)."""
    found: dict[str, list[str]] = {}
    for ami in build.amis:
        if ami.image_id and ami.region and ami.account_id in ("", account):
            ids = found.setdefault(ami.region, [])
            if ami.image_id not in ids:
                ids.append(ami.image_id)
    return {region: tuple(ids) for region, ids in sorted(found.items())}
