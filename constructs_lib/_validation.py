"""Synth-time checks of literal construct inputs; tokens pass through to deploy time.

The rules are the handler's own (``image_lookup.properties``), so synth and
deploy agree. Each check raises ``ValueError`` (``InvalidInputError``) naming
the bad value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import Token

from image_lookup.errors import InvalidInputError, show_value
from image_lookup.properties import (
    parse_image_type,
    parse_owner,
    validate_filter_value,
    validate_image_name,
    validate_region,
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
    refresh_on_every_deploy: Any,
) -> None:
    """Check every literal construct input; the first bad one raises."""
    check_literal("image_name", image_name, validate_image_name, required=True)
    check_literal("version", version, parse_selector, required=True)
    check_literal("owner", owner, parse_owner, required=True)
    check_literal("image_type", image_type, parse_image_type, required=False)
    check_literal("platform", platform, lambda v: validate_filter_value("platform", v), False)
    check_literal("os_version", os_version, lambda v: validate_filter_value("os_version", v), False)
    check_literal("region", region, validate_region, required=False)
    check_flag("include_deprecated", include_deprecated)
    check_flag("refresh_on_every_deploy", refresh_on_every_deploy)
