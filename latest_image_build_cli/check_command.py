"""``latest-image-build check``: is what is deployed still the newest good build?

For every ``Custom::LatestImageBuild`` in the named stacks (or in every stack of the
region with ``--all``): the pinned build, whether it is still usable, what the lookup
resolves now with the deployed properties, and how far behind the pin is. Exit 0 when
all are current, 3 when any is stale, 4 when any pinned build is unusable (4 wins), 1
when a lookup could not be checked or the command failed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from latest_image_build_cli.aws_session import resolve_region, sdk_session
from latest_image_build_cli.check_report import FORMATS, exit_code, render
from latest_image_build_cli.deployed_stacks import LookupSite, StackProblem, StackReader
from latest_image_build_cli.pin_check import UNKNOWN, LookupCheck, PinChecker
from latest_image_build_cli.resolve_command import add_run_options, configure_logging

#: How a stack that could not be read shows in the report's Lookup column.
STACK_ROW = "(stack)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack NAME`` (repeatable) or ``--all``, ``--region``, ``--format``, ``--timeout``."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--stack",
        dest="stacks",
        action="append",
        metavar="NAME",
        help="a deployed stack's name or id (repeatable)",
    )
    which.add_argument(
        "--all", action="store_true", help="every stack of the region that holds a lookup"
    )
    parser.add_argument(
        "--region",
        help="the stacks' region (default: AWS_REGION, then AWS_DEFAULT_REGION or the profile's)",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="table (default), json or markdown"
    )
    add_run_options(parser)


def run(args: argparse.Namespace) -> int:
    """Check, print the report on stdout, return the exit code its verdicts make."""
    region = resolve_region(args.region)
    configure_logging(args.verbose)
    session = sdk_session()
    reader = StackReader(session, region)
    found = list(reader.every() if args.all else reader.named(args.stacks))
    sites = [item for item in found if isinstance(item, LookupSite)]
    checker = PinChecker(session, region, args.timeout, datetime.now(timezone.utc))
    checks = checker.check(sites) + [
        LookupCheck(stack=item.stack_name, lookup=STACK_ROW, logical_id="", status=UNKNOWN,
                    problem=item.problem)
        for item in found
        if isinstance(item, StackProblem)
    ]  # fmt: skip
    sys.stdout.write(render(checks, region, args.format))
    return exit_code(checks)
