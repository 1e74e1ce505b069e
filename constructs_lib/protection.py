"""Lifecycle policy exclusion rules that keep every build a ``LatestImageBuild`` protects.

A lookup with ``protect_pinned_build=True`` tags its pinned build and the build's AMIs
with ``latest-image-build:protected`` = ``true`` (``image_lookup.protection``), whichever
stack pins it; one lifecycle policy excluding that tag serves the whole account.
"""

from __future__ import annotations

from aws_cdk import aws_imagebuilder as imagebuilder

from image_lookup.errors import InvalidInputError, show_value
from image_lookup.protection import PROTECTED_TAG_KEY, PROTECTED_TAG_VALUE

#: ``CfnLifecyclePolicy.resource_type`` values (the resource schema's enum).
AMI_IMAGE = "AMI_IMAGE"
CONTAINER_IMAGE = "CONTAINER_IMAGE"


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
