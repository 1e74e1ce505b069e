"""Lifecycle policy exclusion rules that keep every build a ``LatestImageBuild`` protects,
and the synth-time rule of which lookups can be protected.

A lookup with ``protect_pinned_build=True`` reports its pin to the pin registry
(``ImageFactory``) of the account that owns the image; the registry tags the build
and its AMIs with ``latest-image-build:protected`` = ``true`` while any stack holds
it (``image_lookup.pins``); one lifecycle policy excluding that tag serves the
whole factory account.
"""

from __future__ import annotations

from aws_cdk import aws_imagebuilder as imagebuilder

from image_lookup.contract import ImageOwner
from image_lookup.errors import InvalidInputError, show_value
from image_lookup.protection import PROTECTED_TAG_KEY, PROTECTED_TAG_VALUE

#: ``CfnLifecyclePolicy.resource_type`` values (the resource schema's enum).
AMI_IMAGE = "AMI_IMAGE"
CONTAINER_IMAGE = "CONTAINER_IMAGE"


#: Owners whose images belong to no account of the user's: no registry can keep them.
_NOT_YOURS = frozenset(
    owner.value.casefold()
    for owner in (ImageOwner.AMAZON, ImageOwner.THIRD_PARTY, ImageOwner.AWS_MARKETPLACE)
)


def check_protection(*, owner: str, image_account: str | None) -> None:
    """Raise InvalidInputError when ``protect_pinned_build`` cannot work for this lookup.

    ``owner`` is the API string (or a token); a token passes (checked at deploy).
    """
    if owner.casefold() in _NOT_YOURS:
        raise InvalidInputError(
            f"protect_pinned_build=True with owner={owner!r}: only the account that owns an "
            "image can keep it from lifecycle policies; protect your own or shared images"
        )
    if owner.casefold() == ImageOwner.SHARED.value.casefold() and not image_account:
        raise InvalidInputError(
            "protect_pinned_build=True with owner='Shared' needs image_account=<the image "
            "factory's account>: the pin is reported to that account's ImageFactory"
        )


def protected_tags() -> dict[str, str]:
    """The tag every protected build and AMI carries, as a ``tag_map``."""
    return {PROTECTED_TAG_KEY: PROTECTED_TAG_VALUE}


def lifecycle_exclusion_rules(
    resource_type: str = AMI_IMAGE,
) -> imagebuilder.CfnLifecyclePolicy.ExclusionRulesProperty:
    """Exclusion rules that skip protected builds: the image ``tag_map`` and, for
    ``AMI_IMAGE`` policies, the AMI ``tag_map`` too (AMIs are tagged in each region).

    :param resource_type: the policy's ``resource_type``, ``AMI_IMAGE`` (default) or
        ``CONTAINER_IMAGE`` (no AMI rules: a container policy has no AMIs).
    """
    if resource_type not in (AMI_IMAGE, CONTAINER_IMAGE):
        raise InvalidInputError(
            f"invalid resource_type {show_value(resource_type)}: use AMI_IMAGE or CONTAINER_IMAGE"
        )
    amis = (
        imagebuilder.CfnLifecyclePolicy.AmiExclusionRulesProperty(tag_map=protected_tags())
        if resource_type == AMI_IMAGE
        else None
    )
    return imagebuilder.CfnLifecyclePolicy.ExclusionRulesProperty(
        tag_map=protected_tags(), amis=amis
    )
