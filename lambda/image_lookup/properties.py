"""Turn the custom resource's properties into a validated LookupRequest.

CloudFormation delivers every property value as a string ("true"/"false" for
booleans), so each value is checked as text before any API call is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from image_lookup.contract import (
    DEFAULT_SELECTOR,
    EXCLUDE_TAGS,
    IMAGE_ACCOUNT,
    IMAGE_NAME,
    IMAGE_TYPE,
    INCLUDE_DEPRECATED,
    MIN_AGE_SECONDS,
    OS_VERSION,
    OWNER,
    PLATFORM,
    PLATFORM_KEYS,
    PROPERTIES,
    PROPERTY_KEYS,
    PROTECT_PINNED_BUILD,
    REGION,
    REQUIRE_AMI,
    REQUIRE_CONTAINER,
    REQUIRE_TAGS,
    VERSION_SELECTOR,
    ImageOwner,
    ImageType,
)
from image_lookup.errors import InvalidInputError, show_value
from image_lookup.gates import PromotionGates, whole_number
from image_lookup.models import ImageFilters, LookupRequest
from image_lookup.versions import parse_selector

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
_KNOWN_KEYS = PROPERTY_KEYS | PLATFORM_KEYS
#: The other names a property goes by: its construct parameter and CLI option, compared
#: without case, ``-`` and ``_`` (``Version`` is ``version``, ``Type`` is ``--type``). A key
#: that is one of these means that property, whatever string similarity says (``Version``
#: is closer to ``OsVersion`` than to ``VersionSelector``).
_ALIASES = {
    alias.replace("-", "").replace("_", "").casefold(): prop.key
    for prop in PROPERTIES
    for alias in (prop.param, prop.cli_flag or prop.param)
}
#: How alike an unknown key must be to one of ours to be taken for a typo of it.
_NEAR_MISS_CUTOFF = 0.8


def parse_properties(properties: Mapping[str, Any]) -> LookupRequest:
    """Validate ResourceProperties and build the request; raise InvalidInputError when bad.

    Keys that are not ours are ignored (see ``ignored_properties``) unless they
    look like a typo of one of ours.
    """
    if not isinstance(properties, Mapping):
        raise InvalidInputError(
            f"ResourceProperties must be an object, got {show_value(properties)}"
        )
    ignored_properties(properties)
    image_name = _text(properties, IMAGE_NAME.key)
    if image_name is None:
        raise InvalidInputError(f"property {IMAGE_NAME.key} is required")
    selector = properties.get(VERSION_SELECTOR.key, DEFAULT_SELECTOR)
    if not isinstance(selector, str):
        raise InvalidInputError(
            f"property {VERSION_SELECTOR.key} must be a string, got {show_value(selector)}"
        )
    owner = parse_owner(_text(properties, OWNER.key) or ImageOwner.SELF.value)
    include_deprecated = _boolean(properties, INCLUDE_DEPRECATED.key)
    check_include_deprecated(owner, include_deprecated)
    return LookupRequest(
        image_name=validate_image_name(image_name),
        # Present means given: an empty selector (a token that resolved to "") is an error,
        # never a silent x.x.x.
        selector=parse_selector(selector),
        owner=owner,
        filters=ImageFilters(
            platform=_optional(properties, PLATFORM.key, parse_platform),
            os_version=_optional(
                properties, OS_VERSION.key, partial(validate_filter_value, "OsVersion")
            ),
            image_type=_optional(properties, IMAGE_TYPE.key, parse_image_type),
        ),
        include_deprecated=include_deprecated,
        region=_optional(properties, REGION.key, validate_region),
        image_account=_optional(properties, IMAGE_ACCOUNT.key, validate_image_account),
        gates=PromotionGates(
            require_tags=parse_tags(REQUIRE_TAGS.key, properties.get(REQUIRE_TAGS.key)),
            exclude_tags=parse_tags(EXCLUDE_TAGS.key, properties.get(EXCLUDE_TAGS.key)),
            min_age_seconds=(
                _optional(properties, MIN_AGE_SECONDS.key, parse_min_age_seconds) or 0
            ),
        ),
        require_ami=_boolean(properties, REQUIRE_AMI.key),
        require_container=_boolean(properties, REQUIRE_CONTAINER.key),
        protect=_boolean(properties, PROTECT_PINNED_BUILD.key),
    )


def ignored_properties(properties: Mapping[str, Any]) -> tuple[str, ...]:
    """Keys that are neither ours nor CloudFormation's; raise on one that looks like a typo.

    CloudFormation and the Provider framework add keys of their own
    (``ServiceToken``, ``ServiceTimeout``, and may add more), so an unknown key never
    fails a lookup, unless it is a near-miss of one of ours (``imageName``,
    ``VersionSelecter``): that is a mistake in a hand-written template, and
    ignoring it would silently look up something else.
    """
    ignored = tuple(sorted(str(key) for key in properties if key not in _KNOWN_KEYS))
    for key in ignored:
        meant = _meant_key(key)
        if meant is not None:
            raise InvalidInputError(f"unknown property {show_value(key)}: did you mean {meant}?")
    return ignored


def _meant_key(key: str) -> str | None:
    """The property of ours that ``key`` is probably a typo of, or None."""
    for known in sorted(PROPERTY_KEYS):
        if key.casefold() == known.casefold():
            return known
    alias = _ALIASES.get(key.casefold())
    if alias is not None:
        return alias
    import difflib  # only for unknown keys: keeps it off the common path's import time

    close = difflib.get_close_matches(key, sorted(PROPERTY_KEYS), n=1, cutoff=_NEAR_MISS_CUTOFF)
    return close[0] if close else None


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


_OWNERS_BY_FOLDED_VALUE = {owner.value.casefold(): owner for owner in ImageOwner}


def parse_owner(text: str) -> ImageOwner:
    """Map an owner string (Self, Shared, Amazon, ThirdParty, AWSMarketplace; any case)."""
    owner = _OWNERS_BY_FOLDED_VALUE.get(text.casefold()) if isinstance(text, str) else None
    if owner is None:
        allowed = ", ".join(owner.value for owner in ImageOwner)
        raise InvalidInputError(f"invalid owner {show_value(text)}: use one of {allowed}")
    return owner


def check_include_deprecated(owner: ImageOwner, include_deprecated: bool) -> None:
    """Refuse include_deprecated for images of other accounts: it could never take effect.

    Image Builder shows build states (ListImageBuildVersions) only to an image's owner,
    and GetImage on another account's version answers with its newest AVAILABLE build.
    """
    if include_deprecated and owner is not ImageOwner.SELF:
        raise InvalidInputError(
            f"include_deprecated works only for owner 'Self', not {show_value(owner.value)}: "
            "Image Builder shows deprecated builds only to the image's owner"
        )


def validate_image_account(text: str) -> str:
    """An account id of 12 digits, or ``aws`` (Amazon's images)."""
    if text == "aws" or (len(text) == 12 and text.isascii() and text.isdigit()):
        return text
    raise InvalidInputError(
        f"invalid image account {show_value(text)}: 12 digits, or 'aws' for Amazon's images"
    )


def parse_image_type(text: str) -> ImageType:
    """Map ``AMI`` or ``DOCKER`` to ImageType."""
    try:
        return ImageType(text)
    except ValueError:
        raise InvalidInputError(
            f"invalid image type {show_value(text)}: use AMI or DOCKER"
        ) from None


def validate_region(text: str) -> str:
    """Return ``text`` when it looks like a region name, in any partition.

    ``eu-west-1``, ``us-gov-west-1``, ``cn-north-1``, ``us-isob-east-1``,
    ``eusc-de-east-1``: a 2-4 letter prefix, lowercase words, a number.
    """
    parts = text.split("-")
    valid = (
        len(parts) >= 3
        and 2 <= len(parts[0]) <= 4
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


def validate_tag(label: str, key: str, value: str) -> tuple[str, str]:
    """One tag pair, within the service's limits (TagMap in botocore's model), else raise."""
    key_ok = (
        isinstance(key, str)
        and 1 <= len(key) <= 128
        and not key.startswith("aws:")
        and all(char.isalnum() or char.isspace() or char in "_.:/=+-@" for char in key)
    )
    if not key_ok:
        raise InvalidInputError(
            f"invalid {label} key {show_value(key)}: 1-128 characters of letters, digits, "
            "spaces and _.:/=+-@, not starting with 'aws:'"
        )
    if not isinstance(value, str) or len(value) > 256:
        raise InvalidInputError(
            f"invalid {label} value {show_value(value)} for {key!r}: a string of at most 256 "
            "characters"
        )
    return key, value


def parse_tags(label: str, value: object) -> tuple[tuple[str, str], ...]:
    """A map of tag strings (absent or empty: none), checked pair by pair."""
    if value is None or value == "":
        return ()
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"property {label} must be a map of strings, got {show_value(value)}"
        )
    return tuple(sorted(validate_tag(label, key, item) for key, item in value.items()))


def parse_min_age_seconds(text: str) -> int:
    """A whole, non-negative number of seconds, as text."""
    seconds = whole_number(text)
    if seconds is None:
        raise InvalidInputError(
            f"invalid MinAgeSeconds {show_value(text)}: a whole number of seconds, 0 or more"
        )
    return seconds


#: The service's Platform enum (botocore's imagebuilder model, shape ``Platform``).
PLATFORMS = ("Windows", "Linux", "macOS")
_PLATFORMS_BY_FOLDED_VALUE = {platform.casefold(): platform for platform in PLATFORMS}


def parse_platform(text: str) -> str:
    """The service's spelling of a platform, given in any case (``linux`` is ``Linux``)."""
    platform = _PLATFORMS_BY_FOLDED_VALUE.get(text.casefold()) if isinstance(text, str) else None
    if platform is None:
        raise InvalidInputError(
            f"invalid platform {show_value(text)}: use one of {', '.join(PLATFORMS)}"
        )
    return platform


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
