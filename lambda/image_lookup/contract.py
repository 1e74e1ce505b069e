"""The contract between the ``LatestImageBuild`` construct and this handler, in one place.

The construct (``constructs_lib``), the handler and the preview CLI all read this
module: the custom resource's type, every property key with its construct
parameter and CLI option, the attribute (``Data``) keys, the defaults, and the rule
that decides which service calls, and so which IAM actions, a lookup needs. Like
aws-cdk-lib's provider-framework ``consts.ts`` it ships with the runtime code, and
the construct imports it from there. Adding a property starts here.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

RESOURCE_TYPE = "Custom::LatestImageBuild"
DEFAULT_SELECTOR = "x.x.x"


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


class PropertyKind:
    """How a property's value is written (CloudFormation delivers all of them as strings).

    Plain constants rather than an Enum: this module is imported on every cold start.
    """

    TEXT = "text"
    FLAG = "flag"  # "true" / "false"
    TAGS = "tags"  # a map of strings
    SECONDS = "seconds"  # a whole number of seconds, as a string


class Property(NamedTuple):
    """One custom resource property: its key, the construct parameter and the CLI option."""

    key: str
    param: str
    cli_flag: str | None
    help: str
    kind: str = PropertyKind.TEXT


IMAGE_NAME = Property(
    "ImageName",
    "image_name",
    "--name",
    "image name as Image Builder lists it ('Amazon Linux 2023 x86') or its ARN form "
    "('amazon-linux-2023-x86')",
)
VERSION_SELECTOR = Property(
    "VersionSelector",
    "version",
    "--version",
    f"x.x.x, 1.x.x, 1.2.x or 1.2.3 (default {DEFAULT_SELECTOR})",
)
OWNER = Property(
    "Owner",
    "owner",
    "--owner",
    "Self, Shared, Amazon, ThirdParty or AWSMarketplace (default Self)",
)
PLATFORM = Property("Platform", "platform", "--platform", "only Linux, Windows or macOS images")
OS_VERSION = Property("OsVersion", "os_version", "--os-version", "e.g. 'Amazon Linux 2023'")
IMAGE_TYPE = Property("ImageType", "image_type", "--type", "AMI or DOCKER")
INCLUDE_DEPRECATED = Property(
    "IncludeDeprecated",
    "include_deprecated",
    "--include-deprecated",
    "let DEPRECATED builds win (own images)",
    PropertyKind.FLAG,
)
REGION = Property("Region", "region", "--region", "region the image lives in")
IMAGE_ACCOUNT = Property(
    "ImageAccount",
    "image_account",
    "--account",
    "only images of this owner account (12 digits, or 'aws'); needed when several accounts "
    "share images of the same name",
)
REFRESH_TOKEN = Property("RefreshToken", "refresh_token", None, "changing it forces a new lookup")
REQUIRE_TAGS = Property(
    "RequireTags",
    "require_tags",
    "--require-tag",
    "KEY=VALUE a build must carry (repeatable)",
    PropertyKind.TAGS,
)
EXCLUDE_TAGS = Property(
    "ExcludeTags",
    "exclude_tags",
    "--exclude-tag",
    "KEY=VALUE no pinned build may carry (repeatable)",
    PropertyKind.TAGS,
)
MIN_AGE_SECONDS = Property(
    "MinAgeSeconds",
    "min_age",
    "--min-age",
    "how old a build must be: 90m, 36h, 7d or seconds",
    PropertyKind.SECONDS,
)
REQUIRE_AMI = Property(
    "RequireAmi",
    "require_ami",
    "--require-ami",
    "fail unless the build has an AMI in the region (the construct sets it for machine_image() "
    "and publish_parameter())",
    PropertyKind.FLAG,
)

REQUIRE_CONTAINER = Property(
    "RequireContainer",
    "require_container",
    "--require-container",
    "fail unless the build has a container image in the region (the construct sets it for "
    "container_image())",
    PropertyKind.FLAG,
)
PROTECT_PINNED_BUILD = Property(
    "ProtectPinnedBuild",
    "protect_pinned_build",
    None,
    "tag the pinned build and its AMIs so lifecycle policies keep them",
    PropertyKind.FLAG,
)

PROPERTIES = (
    IMAGE_NAME,
    VERSION_SELECTOR,
    OWNER,
    PLATFORM,
    OS_VERSION,
    IMAGE_TYPE,
    INCLUDE_DEPRECATED,
    REGION,
    IMAGE_ACCOUNT,
    REFRESH_TOKEN,
    REQUIRE_TAGS,
    EXCLUDE_TAGS,
    MIN_AGE_SECONDS,
    REQUIRE_AMI,
    REQUIRE_CONTAINER,
    PROTECT_PINNED_BUILD,
)
PROPERTY_KEYS = frozenset(prop.key for prop in PROPERTIES)
#: Properties that steer the custom resource (when to refresh, whether to tag), not what it
#: looks up: the ``on_newer_build()`` evaluator and the lock file leave them out.
NOT_LOOKUP_KEYS = frozenset({REFRESH_TOKEN.key, PROTECT_PINNED_BUILD.key})

#: Keys that CloudFormation (``ServiceToken``, ``ServiceTimeout``) or the Provider
#: framework put into ResourceProperties. They, and any unknown key that is not a
#: near-miss of ours, never fail a lookup.
PLATFORM_KEYS = frozenset({"ServiceToken", "ServiceTimeout"})


class Attribute:
    """The ``Data`` keys the handler returns; ``Fn::GetAtt`` names on the custom resource."""

    IMAGE_BUILD_VERSION_ARN = "ImageBuildVersionArn"
    IMAGE_VERSION_ARN = "ImageVersionArn"
    IMAGE_NAME = "ImageName"
    VERSION = "Version"
    BUILD_VERSION = "BuildVersion"
    AMI_ID = "AmiId"
    CONTAINER_IMAGE_URI = "ContainerImageUri"
    PLATFORM = "Platform"
    OS_VERSION = "OsVersion"
    IMAGE_TYPE = "ImageType"
    DATE_CREATED = "DateCreated"


ATTRIBUTE_KEYS = (
    Attribute.IMAGE_BUILD_VERSION_ARN,
    Attribute.IMAGE_VERSION_ARN,
    Attribute.IMAGE_NAME,
    Attribute.VERSION,
    Attribute.BUILD_VERSION,
    Attribute.AMI_ID,
    Attribute.CONTAINER_IMAGE_URI,
    Attribute.PLATFORM,
    Attribute.OS_VERSION,
    Attribute.IMAGE_TYPE,
    Attribute.DATE_CREATED,
)

#: IAM actions, named as the API operations they allow.
LIST_IMAGES = "imagebuilder:ListImages"
GET_IMAGE = "imagebuilder:GetImage"
LIST_IMAGE_BUILD_VERSIONS = "imagebuilder:ListImageBuildVersions"
#: What an Update reads of its own stack to tell a rollback (see ``rollback``).
ROLLBACK_READS = ("cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents")

#: The handler function's timeout. Only a rollback may use all of it: a stack of many
#: lookups rolls them back at once, and each pages the stack's events under
#: CloudFormation's rate limit (``rollback``). Under the Provider framework's own 15
#: minutes, which it waits for the handler's answer.
HANDLER_TIMEOUT_SECONDS = 600
#: The time any other request may work: a lookup that cannot be answered fails its
#: deploy in about two minutes.
ORDINARY_WORK_SECONDS = 110.0


def lists_builds(owner: str | None, *, include_deprecated: bool, gated: bool = False) -> bool:
    """Whether a lookup reads every build of a version (ListImageBuildVersions).

    Only an image's owner may list its builds; DEPRECATED builds and promotion
    gates need them (every build of a version is then a candidate). Everyone else
    gets each version's newest AVAILABLE build from GetImage. ``owner`` None means
    "not known yet" (a token at synth): then the answer is whether it could.
    """
    return (include_deprecated or gated) and owner in (None, ImageOwner.SELF.value)


def owner_account(
    owner: str, own_account: str | None, image_account: str | None = None
) -> str | None:
    """The account in the image's ARNs when it can be known: ``image_account``, else the
    stack's own account for Self and ``aws`` for Amazon."""
    if image_account:
        return image_account
    if owner == ImageOwner.SELF.value:
        return own_account or None
    if owner == ImageOwner.AMAZON.value:
        return "aws"
    return None


def service_actions(
    owner: str | None, *, include_deprecated: bool, gated: bool = False
) -> tuple[str, ...]:
    """Every IAM action a lookup may need (``owner`` None: not known at synth)."""
    actions = [LIST_IMAGES, GET_IMAGE]
    if lists_builds(owner, include_deprecated=include_deprecated, gated=gated):
        actions.append(LIST_IMAGE_BUILD_VERSIONS)
    return tuple(actions)
