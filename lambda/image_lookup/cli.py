"""Preview a lookup from the shell: prints, as JSON, what a deploy would pin.

Its options are the custom resource's properties (``contract.PROPERTIES``), so the
preview parses exactly what a deploy would.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from image_lookup.contract import PROPERTIES, Property, PropertyKind
from image_lookup.deadline import Deadline
from image_lookup.errors import ImageLookupError, InvalidInputError, show_value
from image_lookup.gates import parse_age
from image_lookup.lookup_runner import lookup_image
from image_lookup.properties import parse_properties

#: The options a command line offers: every property that has one.
CLI_PROPERTIES = tuple(prop for prop in PROPERTIES if prop.cli_flag is not None)


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments, one per custom resource property."""
    parser = argparse.ArgumentParser(
        prog="latest-image-build",
        description="Print the EC2 Image Builder build a LatestImageBuild lookup would pin.",
    )
    for prop in CLI_PROPERTIES:
        assert prop.cli_flag is not None
        if prop.kind == PropertyKind.FLAG:
            parser.add_argument(prop.cli_flag, dest=prop.param, action="store_true", help=prop.help)
        elif prop.kind == PropertyKind.TAGS:
            parser.add_argument(prop.cli_flag, dest=prop.param, action="append", help=prop.help)
        else:
            parser.add_argument(prop.cli_flag, dest=prop.param, help=prop.help)
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to keep retrying (default 120)"
    )
    return parser


def properties_from(args: argparse.Namespace) -> dict[str, Any]:
    """The ResourceProperties a deploy would send for these arguments."""
    properties: dict[str, Any] = {}
    for prop in CLI_PROPERTIES:
        value = _property_value(prop, getattr(args, prop.param))
        if value is not None:
            properties[prop.key] = value
    return properties


def main(argv: list[str] | None = None) -> int:
    """Run the preview; exit 0 with JSON on stdout, 1 with a one-line reason on stderr."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, format="%(message)s")
    try:
        request = parse_properties(properties_from(args))
        data = lookup_image(request, Deadline(reserve_seconds=0.0, budget_seconds=args.timeout))
    except ImageLookupError as error:
        print(f"latest-image-build: {error.reason}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2))
    return 0


def _property_value(prop: Property, value: Any) -> Any:
    """The CLI's value as CloudFormation would deliver the property."""
    if value is None:
        return None
    if prop.kind == PropertyKind.FLAG:
        return "true" if value else None
    if prop.kind == PropertyKind.TAGS:
        pairs = [text.partition("=") for text in value]
        bad = next((text for text, (_, sep, _v) in zip(value, pairs, strict=True) if not sep), None)
        if bad is not None:
            raise InvalidInputError(f"invalid {prop.cli_flag} {show_value(bad)}: use KEY=VALUE")
        return {key: item for key, _, item in pairs}
    if prop.kind == PropertyKind.SECONDS:
        seconds = parse_age(value)
        if seconds is None:
            raise InvalidInputError(
                f"invalid {prop.cli_flag} {show_value(value)}: use 90m, 36h, 7d or seconds"
            )
        return str(seconds)
    return value
