"""``latest-image-build resolve``: print the build a lookup with these properties pins now.

Its options are the custom resource's properties (``contract.PROPERTIES``), each value
checked by the handler's own parser, so the command resolves exactly what a deploy would.
The selector's option is ``--selector``: ``--version`` alone prints the tool's version, and
``--version SELECTOR`` still works as the selector, with a deprecation notice.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from typing import Any

from image_lookup.contract import (
    ATTRIBUTE_KEYS,
    IMAGE_NAME,
    PROPERTIES,
    REGION,
    VERSION_SELECTOR,
    Property,
    PropertyKind,
)
from image_lookup.deadline import Deadline
from image_lookup.errors import ImageLookupError, InvalidInputError, show_value
from image_lookup.gates import parse_age
from image_lookup.lookup_runner import lookup_image
from image_lookup.properties import parse_properties
from image_lookup.retry import DEFAULT_RETRY_POLICY, RetryPolicy
from image_lookup.sdk import fitted_policy
from latest_image_build_cli.aws_session import lookup_failure, resolve_region
from latest_image_build_cli.cli_errors import CommandError, report, tool_version
from latest_image_build_cli.exit_codes import OK, USAGE

#: The options this command offers: every property that has one.
CLI_PROPERTIES = tuple(prop for prop in PROPERTIES if prop.cli_flag is not None)
#: The selector's option. ``--version`` was its name until 0.3.0; it now prints the version.
SELECTOR_FLAG = "--selector"
VERSION_FLAG = "--version"
#: ``--version`` given without a value.
_SHOW_VERSION = object()
#: A name that stands for nothing, to check one option at a time with the full parser.
_PLACEHOLDER_NAME = "placeholder"
DEFAULT_TIMEOUT = 120.0
FORMATS = ("json", "env")
#: Characters that would end or split an ``env`` line (``$GITHUB_ENV`` reads one per line).
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f]")


def cli_flag(prop: Property) -> str:
    """The option that sets ``prop`` (``--selector`` for the selector)."""
    assert prop.cli_flag is not None
    return SELECTOR_FLAG if prop is VERSION_SELECTOR else prop.cli_flag


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per custom resource property, plus the output and timing options."""
    for prop in CLI_PROPERTIES:
        flag = cli_flag(prop)
        if prop.kind == PropertyKind.FLAG:
            parser.add_argument(flag, dest=prop.param, action="store_true", help=prop.help)
        elif prop.kind == PropertyKind.TAGS:
            parser.add_argument(
                flag,
                dest=prop.param,
                action="append",
                type=_option_type(prop),
                metavar="KEY=VALUE",
                help=prop.help,
            )
        else:
            parser.add_argument(flag, dest=prop.param, type=_option_type(prop), help=prop.help)
    parser.add_argument(
        VERSION_FLAG,
        dest="version_option",
        nargs="?",
        const=_SHOW_VERSION,
        type=_option_type(VERSION_SELECTOR),
        metavar="SELECTOR",
        help=f"print the tool's version and exit; with a value, the deprecated spelling of "
        f"{SELECTOR_FLAG}",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--field",
        type=_attribute_key,
        metavar="KEY",
        help=f"print one attribute, raw: {', '.join(ATTRIBUTE_KEYS)}",
    )
    output.add_argument(
        "--format",
        choices=FORMATS,
        default="json",
        help="json (default), or env: KEY=value lines to eval (shell-quoted where needed)",
    )
    add_run_options(parser)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--timeout`` and ``--verbose``, which every command that resolves lookups takes."""
    parser.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long each lookup may keep retrying (default {DEFAULT_TIMEOUT:g}); a "
        "short one shrinks each attempt's connect and read timeouts to fit",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also write each lookup's JSON log line to stderr"
    )


def run(args: argparse.Namespace) -> int:
    """Resolve and print; raise CommandError (one line) on failure."""
    if args.version_option is _SHOW_VERSION:
        print(tool_version())
        return OK
    if args.version_option is not None:
        if getattr(args, VERSION_SELECTOR.param) is not None:
            raise CommandError(
                f"pass the selector once: {SELECTOR_FLAG} (or its deprecated spelling "
                f"{VERSION_FLAG} SELECTOR), not both",
                USAGE,
            )
        report(
            f"{VERSION_FLAG} SELECTOR is deprecated: use {SELECTOR_FLAG} "
            f"{args.version_option} ({VERSION_FLAG} alone prints the tool's version)"
        )
        setattr(args, VERSION_SELECTOR.param, args.version_option)
    if getattr(args, IMAGE_NAME.param) is None:
        raise CommandError(f"{cli_flag(IMAGE_NAME)} is required (see --help)", USAGE)
    properties = properties_from(args)
    properties[REGION.key] = resolve_region(getattr(args, REGION.param))
    try:
        request = parse_properties(properties)
    except InvalidInputError as error:
        raise CommandError(name_options(error.reason), USAGE) from None
    configure_logging(args.verbose)
    try:
        data = lookup_image(
            request,
            Deadline(reserve_seconds=0.0, budget_seconds=args.timeout),
            retry_policy=run_policy(args.timeout),
        )
    except ImageLookupError as error:
        raise CommandError(name_options(lookup_failure(error, args.timeout))) from None
    sys.stdout.write(render(data, field=args.field, output_format=args.format))
    return OK


def run_policy(timeout: float) -> RetryPolicy:
    """The lookups' retry policy under ``--timeout``: attempts shrunk to fit a short one."""
    return fitted_policy(DEFAULT_RETRY_POLICY, timeout)


def properties_from(args: argparse.Namespace) -> dict[str, Any]:
    """The ResourceProperties a deploy would send for these arguments."""
    properties: dict[str, Any] = {}
    for prop in CLI_PROPERTIES:
        value = getattr(args, prop.param)
        if value is None or value is False:
            continue
        if prop.kind == PropertyKind.FLAG:
            properties[prop.key] = "true"
        elif prop.kind == PropertyKind.TAGS:
            properties[prop.key] = dict(value)
        else:
            properties[prop.key] = value
    return properties


def render(data: Mapping[str, str], *, field: str | None, output_format: str) -> str:
    """The attributes as one raw value (``field``), JSON, or ``KEY=value`` lines."""
    if field is not None:
        return data[field] + "\n"
    if output_format == "env":
        return "".join(f"{key}={env_value(key, data[key])}\n" for key in ATTRIBUTE_KEYS)
    return json.dumps(data, indent=2) + "\n"


def env_value(key: str, value: str) -> str:
    """``value`` quoted for a POSIX shell where it needs it; empty stays empty.

    Values of only letters, digits and ``@%+=:,./-_`` (ARNs, versions, AMI ids, URIs,
    dates) are written as they are, so the line reads the same to ``eval`` and to
    ``$GITHUB_ENV``; others (names with spaces) are single-quoted.
    """
    if _LINE_BREAKING.search(value):
        raise CommandError(
            f"cannot write {key} as an env line: its value {show_value(value)} "
            "holds a control character; use --format json"
        )
    return shlex.quote(value) if value else ""


def name_options(reason: str) -> str:
    """The handler's reason with property keys turned into CLI options.

    ``property ImageName is required`` -> ``--name is required``; ``invalid MinAgeSeconds``
    -> ``invalid --min-age``. Construct parameters with an underscore (``include_deprecated``)
    are turned too, unless the reason already names the option.
    """
    for prop in CLI_PROPERTIES:
        flag = cli_flag(prop)
        if flag in reason:
            continue
        names = [re.escape(prop.key)]
        if "_" in prop.param:
            names.append(re.escape(prop.param))
        reason = re.sub(rf"\b(?:property )?(?:{'|'.join(names)})\b", flag, reason)
    return reason


def configure_logging(verbose: bool) -> None:
    """The lookup's JSON log line on stderr with ``--verbose``; otherwise nothing at all.

    Without a handler Python would print records of WARNING and above (a traceback among
    them) through its last-resort handler; a NullHandler keeps stderr to the one line.
    """
    logger = logging.getLogger("image_lookup")
    logger.handlers.clear()
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.NullHandler()
    logger.addHandler(handler)
    logger.propagate = False


def _option_type(prop: Property) -> Callable[[str], Any]:
    """argparse ``type`` for one option: the handler's parser checks it, alone."""

    def check(text: str) -> Any:
        value: Any = text
        if prop.kind == PropertyKind.SECONDS:
            seconds = parse_age(text)
            if seconds is None:
                raise argparse.ArgumentTypeError(
                    f"invalid value {show_value(text)}: use 90m, 36h, 7d or seconds"
                )
            value = str(seconds)
        elif prop.kind == PropertyKind.TAGS:
            key, sep, item = text.partition("=")
            if not sep:
                raise argparse.ArgumentTypeError(f"invalid value {show_value(text)}: use KEY=VALUE")
            value = (key, item)
        probe: dict[str, Any] = {IMAGE_NAME.key: _PLACEHOLDER_NAME}
        probe[prop.key] = dict([value]) if prop.kind == PropertyKind.TAGS else value
        try:
            parse_properties(probe)
        except InvalidInputError as error:
            raise argparse.ArgumentTypeError(name_options(error.reason)) from None
        return value

    check.__name__ = prop.param  # argparse names the type in some messages
    return check


def _attribute_key(text: str) -> str:
    """An attribute key, in any case (``AmiId``, ``amiid``)."""
    for key in ATTRIBUTE_KEYS:
        if key.casefold() == text.casefold():
            return key
    raise argparse.ArgumentTypeError(
        f"unknown attribute {show_value(text)}: use one of {', '.join(ATTRIBUTE_KEYS)}"
    )


def timeout_seconds(text: str) -> float:
    """A positive number of seconds: however short, it is the user's to choose (each
    attempt's timeouts shrink to fit, ``run_policy``)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise argparse.ArgumentTypeError(
            f"invalid value {show_value(text)}: a number of seconds greater than 0"
        )
    return seconds
