"""Turn the custom resource's properties into a validated LookupRequest.

CloudFormation delivers every property value as a string ("true"/"false" for
booleans), so each value is checked as text before any API call is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from image_lookup.errors import InvalidInputError, show_value
from image_lookup.models import ImageOwner, ImageType, LookupRequest
from image_lookup.selector import parse_selector

DEFAULT_SELECTOR = "x.x.x"
T = TypeVar("T")

# Character sets of Image Builder's patterns, checked with str methods (no regex to compile).
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
#: ResourceName: ^[-_A-Za-z0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z0-9]$
_NAME_EDGE_CHARS = _ALNUM | frozenset("-_")
_NAME_CHARS = _NAME_EDGE_CHARS | frozenset(" ")
#: FilterValue as every SDK model allows it (older ones lack ,{}"), less "*": only the name
#: filter takes wildcards.
_FILTER_CHARS = _ALNUM | frozenset("./_ :-")

_BOOLEAN_TEXT = {"true": True, "false": False}
#: Every property the resource takes. ServiceToken is added by CloudFormation; RefreshToken
#: only exists to force an update.
KNOWN_PROPERTIES = frozenset(
    {
        "ServiceToken",
        "ImageName",
        "VersionSelector",
        "Owner",
        "Platform",
        "OsVersion",
        "ImageType",
        "IncludeDeprecated",
        "Region",
        "RefreshToken",
    }
)


def parse_properties(properties: Mapping[str, Any]) -> LookupRequest:
    """Validate ResourceProperties and build the request; raise InvalidInputError when bad."""
    if not isinstance(properties, Mapping):
        raise InvalidInputError(
            f"ResourceProperties must be an object, got {show_value(properties)}"
        )
    unknown = sorted(str(key) for key in properties if key not in KNOWN_PROPERTIES)
    if unknown:
        known = ", ".join(sorted(KNOWN_PROPERTIES))
        raise InvalidInputError(f"unknown properties {show_value(unknown)}; known: {known}")
    image_name = _text(properties, "ImageName")
    if image_name is None:
        raise InvalidInputError("property ImageName is required")
    return LookupRequest(
        image_name=validate_image_name(image_name),
        selector=parse_selector(_text(properties, "VersionSelector") or DEFAULT_SELECTOR),
        owner=parse_owner(_text(properties, "Owner") or ImageOwner.SELF.value),
        platform=_optional(properties, "Platform", partial(validate_filter_value, "Platform")),
        os_version=_optional(properties, "OsVersion", partial(validate_filter_value, "OsVersion")),
        image_type=_optional(properties, "ImageType", parse_image_type),
        include_deprecated=_boolean(properties, "IncludeDeprecated"),
        region=_optional(properties, "Region", validate_region),
    )


def validate_image_name(name: str) -> str:
    """Return ``name`` when it is a valid Image Builder image name, else raise."""
    valid = (
        3 <= len(name) <= 128
        and _NAME_CHARS.issuperset(name)
        and name[0] in _NAME_EDGE_CHARS
        and name[-1] in _NAME_EDGE_CHARS
    )
    if not valid:
        raise InvalidInputError(
            f"invalid image name {show_value(name)}: Image Builder names are 3-128 characters "
            "of letters, digits, '-', '_' and inner spaces"
        )
    return name


def parse_owner(text: str) -> ImageOwner:
    """Map an API owner string (Self, Shared, Amazon, ThirdParty, AWSMarketplace) to ImageOwner."""
    try:
        return ImageOwner(text)
    except ValueError:
        allowed = ", ".join(owner.value for owner in ImageOwner)
        raise InvalidInputError(f"invalid owner {show_value(text)}: use one of {allowed}") from None


def parse_image_type(text: str) -> ImageType:
    """Map ``AMI`` or ``DOCKER`` to ImageType."""
    try:
        return ImageType(text)
    except ValueError:
        raise InvalidInputError(
            f"invalid image type {show_value(text)}: use AMI or DOCKER"
        ) from None


def validate_region(text: str) -> str:
    """Return ``text`` when it looks like a region name (``eu-west-1``, ``us-gov-west-1``)."""
    parts = text.split("-")
    valid = (
        len(parts) >= 3
        and len(parts[0]) == 2
        and all(part.isascii() and part.isalpha() and part.islower() for part in parts[:-1])
        and parts[-1].isascii()
        and parts[-1].isdigit()
        and len(parts[-1]) <= 2
    )
    if not valid:
        raise InvalidInputError(
            f"invalid region {show_value(text)}: expected a name like eu-west-1"
        )
    return text


def validate_filter_value(label: str, text: str) -> str:
    """Return ``text`` when Image Builder accepts it as a filter value, else raise."""
    if not (1 <= len(text) <= 1024 and _FILTER_CHARS.issuperset(text)):
        raise InvalidInputError(
            f"invalid {label} {show_value(text)}: letters, digits, spaces and . / _ : - only"
        )
    return text


def _optional(properties: Mapping[str, Any], key: str, parse: Callable[[str], T]) -> T | None:
    text = _text(properties, key)
    return None if text is None else parse(text)


def _boolean(properties: Mapping[str, Any], key: str) -> bool:
    text = _text(properties, key)
    if text is None:
        return False
    value = _BOOLEAN_TEXT.get(text.lower())
    if value is None:
        raise InvalidInputError(f"invalid {key} {show_value(text)}: use 'true' or 'false'")
    return value


def _text(properties: Mapping[str, Any], key: str) -> str | None:
    """The property as a string, or None when absent or empty."""
    value = properties.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"property {key} must be a string, got {show_value(value)}")
    return value
