"""Synth-time checks of literal construct inputs; tokens pass through to deploy time.

The rules are the handler's own (``image_lookup.properties``), so synth and
deploy agree. Each check raises ``ValueError`` (``InvalidInputError``) naming
the bad value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from aws_cdk import Annotations, Duration, Token
from constructs import Construct

from image_lookup.errors import InvalidInputError, show_value
from image_lookup.properties import (
    check_include_deprecated,
    parse_image_type,
    parse_owner,
    parse_platform,
    validate_filter_value,
    validate_image_account,
    validate_image_name,
    validate_region,
    validate_tag,
)
from image_lookup.versions import parse_selector


def check_literal(prop: str, value: Any, check: Callable[[str], object], required: bool) -> None:
    """Run ``check`` on ``value`` unless it is a token (or an omitted optional value)."""
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise InvalidInputError(f"{prop} must be a string, got {show_value(value)}")
    try:
        check(value)
    except InvalidInputError:
        # Only now ask jsii whether it is a token (a round trip per call): valid literals,
        # the common case, never pay for it; a token's text never passes the check.
        if not Token.is_unresolved(value):
            raise


def check_flag(prop: str, value: Any) -> None:
    """``True`` or ``False``, nothing truthy in their place."""
    if not isinstance(value, bool):
        raise InvalidInputError(f"{prop} must be True or False, got {show_value(value)}")


def check_props(
    *,
    image_name: Any,
    version: Any,
    owner: Any,
    image_type: Any | None,
    platform: Any | None,
    os_version: Any | None,
    region: Any | None,
    include_deprecated: Any,
    image_account: Any | None = None,
    protect_pinned_build: Any = False,
    refresh_on_every_deploy: Any,
    require_tags: Any = None,
    exclude_tags: Any = None,
) -> None:
    """Check every literal construct input; the first bad one raises."""
    check_literal("image_name", image_name, validate_image_name, required=True)
    check_literal("version", version, parse_selector, required=True)
    check_literal("owner", owner, parse_owner, required=True)
    check_literal("image_type", image_type, parse_image_type, required=False)
    check_literal("platform", platform, parse_platform, required=False)
    check_literal("os_version", os_version, lambda v: validate_filter_value("os_version", v), False)
    check_literal("region", region, validate_region, required=False)
    check_literal("image_account", image_account, validate_image_account, required=False)
    check_flag("include_deprecated", include_deprecated)
    check_flag("protect_pinned_build", protect_pinned_build)
    if include_deprecated and isinstance(owner, str):
        check_literal("owner", owner, _deprecated_builds_visible, required=True)
    check_flag("refresh_on_every_deploy", refresh_on_every_deploy)
    check_tags("require_tags", require_tags)
    check_tags("exclude_tags", exclude_tags)


def canonical_platform(platform: str | None) -> str | None:
    """A literal platform in the service's spelling (``linux`` -> ``Linux``), as the
    template should carry it; a token (or None) as it is. Call after ``check_props``."""
    if platform is None:
        return None
    try:
        return parse_platform(platform)
    except InvalidInputError:
        return platform  # a token: checked at deploy


#: Acknowledge with ``Annotations.of(lookup).acknowledge_warning(...)``.
SPELLING_WARNING = "latest-image-build:imageNameSpelling"


def warn_on_name_spelling(lookup: Construct, image_name: str) -> None:
    """Warn at synth when a literal name with capitals has no space: it names an image only
    if the image was created with exactly that name, for its ARN form is lowercase.

    Not an error: Image Builder keeps the name an image was created with (``MyExampleRecipe``
    in the AWS CLI's create-image-recipe example) and lists it so, lowercasing only the ARN.
    """
    if " " in image_name or image_name == image_name.lower() or Token.is_unresolved(image_name):
        return
    Annotations.of(lookup).add_warning_v2(
        SPELLING_WARNING,
        f"image_name {image_name!r} has capital letters and no space: it names an image only "
        f"if the image is listed with exactly this name; the ARN form is "
        f"{image_name.lower()!r} (README: An image has two names)",
    )


def _deprecated_builds_visible(owner: str) -> None:
    """include_deprecated is for the owner's own images (Self) only."""
    check_include_deprecated(parse_owner(owner), True)


def check_tags(prop: str, tags: Any) -> None:
    """A mapping of tag strings; literal keys and values within the service's limits."""
    if tags is None:
        return
    if not isinstance(tags, Mapping):
        raise InvalidInputError(f"{prop} must be a mapping of strings, got {show_value(tags)}")
    for key, value in tags.items():
        check_literal(prop, key, partial(_tag_key, prop), required=True)
        check_literal(prop, value, partial(validate_tag, prop, str(key)), required=True)


def _tag_key(prop: str, key: str) -> None:
    validate_tag(prop, key, "")


def check_min_age(min_age: Any) -> str | None:
    """``min_age`` as whole seconds (text), or None for none or zero; raise on a fraction,
    a negative or anything but a literal Duration, naming ``min_age``.

    (``Duration.seconds(-5)`` itself raises inside aws-cdk-lib, before any construct sees it.)
    """
    if min_age is None:
        return None
    if not isinstance(min_age, Duration):
        raise InvalidInputError(
            f"min_age must be a Duration (e.g. Duration.hours(36)), got {show_value(min_age)}"
        )
    if Token.is_unresolved(min_age.to_string()):
        raise InvalidInputError("min_age must be a literal Duration, not a token")
    seconds = min_age.to_seconds(integral=False)
    if seconds < 0 or seconds != int(seconds):
        raise InvalidInputError(
            f"invalid min_age {min_age.to_human_string()!r}: a whole number of seconds, 0 or more"
        )
    return str(int(seconds)) if seconds else None
