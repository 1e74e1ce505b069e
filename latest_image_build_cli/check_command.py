"""``latest-image-build check``: is what is deployed still the newest good build?

For every ``Custom::LatestImageBuild`` in the named stacks (or in every stack of the
region with ``--all``): the pinned build, whether it is still usable, what the lookup
resolves now with the deployed properties, and how far behind the pin is. Exit 0 when
all are current, 3 when any is stale, 4 when any pinned build is unusable (4 wins), 1
when a lookup could not be checked or the command failed.

With ``--accounts`` or ``--organization`` (and ``--regions``), the same for every stack of
every account and region (``fleet_check``); an account that cannot be read is reported,
and makes the exit code 1 only when no account could be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime, timezone

from image_lookup.errors import InvalidInputError
from image_lookup.properties import validate_region
from latest_image_build_cli.aws_session import AccountClients, resolve_region, sdk_session
from latest_image_build_cli.check_access import CHECK_ROLE_NAME
from latest_image_build_cli.check_report import FORMATS, Scope, exit_code, render
from latest_image_build_cli.cli_errors import CommandError, report
from latest_image_build_cli.exit_codes import ERROR, USAGE
from latest_image_build_cli.fleet_check import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    FleetAccount,
    FleetCheck,
    Progress,
    RoleAssumer,
    all_checks,
    check_scope,
    organization_accounts,
    parse_accounts,
    parse_role_name,
)
from latest_image_build_cli.pin_check import UNREAD
from latest_image_build_cli.resolve_command import add_run_options, configure_logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack NAME`` (repeatable) or ``--all``, ``--region`` or ``--regions``, the fleet
    options (``--accounts`` or ``--organization``, ``--role-name``, ``--concurrency``),
    ``--format``, ``--timeout``."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--stack",
        dest="stacks",
        action="append",
        metavar="NAME",
        help="a deployed stack's name or id (repeatable)",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="every stack of the region that holds a lookup (the default with --accounts, "
        "--organization or --regions)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--region",
        help="the stacks' region (default: AWS_REGION, then AWS_DEFAULT_REGION or the profile's)",
    )
    where.add_argument(
        "--regions",
        type=_listed(_region),
        metavar="R,R...",
        help="check each of these regions (comma-separated)",
    )
    fleet = parser.add_mutually_exclusive_group()
    fleet.add_argument(
        "--accounts",
        type=_listed(parse_accounts),
        metavar="ID,ID...",
        help="check these accounts (comma-separated), assuming --role-name in each",
    )
    fleet.add_argument(
        "--organization",
        action="store_true",
        help="check every account of the organization (Organizations ListAccounts: run from "
        "the management account or a delegated administrator)",
    )
    parser.add_argument(
        "--role-name",
        type=_listed(parse_role_name),
        metavar="NAME",
        help=f"the role to assume in each account (default {CHECK_ROLE_NAME}, the library's "
        "CheckReadRole)",
    )
    parser.add_argument(
        "--concurrency",
        type=_listed(_concurrency),
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"accounts read at once (default {DEFAULT_CONCURRENCY}, at most {MAX_CONCURRENCY})",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="table (default), json or markdown"
    )
    add_run_options(parser)


def run(args: argparse.Namespace) -> int:
    """Check, print the report on stdout, return the exit code its verdicts make."""
    fleet = bool(args.accounts or args.organization)
    if not fleet and not args.regions and not (args.stacks or args.all):
        raise CommandError(
            "one of --stack or --all is required (or --accounts, --organization, --regions; "
            "see latest-image-build check --help)",
            USAGE,
        )
    if args.role_name and not fleet:
        raise CommandError("--role-name needs --accounts or --organization", USAGE)
    configure_logging(args.verbose)
    regions = tuple(args.regions) if args.regions else (resolve_region(args.region),)
    now = datetime.now(timezone.utc)
    stacks = args.stacks or None
    if not fleet and not args.regions:
        # one region of the caller's account: any failure is the command's (one line, exit 1)
        checks, _ = check_scope(
            AccountClients(sdk_session()), regions[0], stacks, args.timeout, now
        )
        sys.stdout.write(render(checks, Scope(regions=regions), args.format))
        return exit_code(checks)
    session = sdk_session()
    assumer: RoleAssumer | None = None
    accounts = [FleetAccount("")]  # the caller's own, in each of --regions
    if fleet:
        accounts = (
            organization_accounts(session, regions[0])
            if args.organization
            else [FleetAccount(account) for account in args.accounts]
        )
        assumer = RoleAssumer(session, regions[0], args.role_name or CHECK_ROLE_NAME)
    progress = Progress.for_terminal(len(accounts)) if fleet else None
    outcomes = FleetCheck(assumer, regions, stacks, args.timeout, now).run(
        accounts, args.concurrency, progress
    )
    checks = list(all_checks(outcomes, stacks))
    scope = Scope(
        regions=regions,
        accounts=tuple(outcome.account for outcome in outcomes) if fleet else None,
        calls={outcome.account: outcome.calls for outcome in outcomes} if fleet else {},
        unread={outcome.account: outcome.problem for outcome in outcomes if outcome.problem},
    )
    sys.stdout.write(render(checks, scope, args.format))
    if checks and all(check.status == UNREAD for check in checks):
        tried = f"{len(accounts)} accounts" if fleet else f"{len(regions)} regions"
        report(f"nothing could be read ({tried} tried): {checks[0].problem}")
        return ERROR
    return exit_code(checks)


def _listed(parse: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse type from a parser that raises ValueError with a one-line reason."""

    def convert(text: str) -> object:
        try:
            return parse(text)
        except (ValueError, InvalidInputError) as error:
            reason = error.reason if isinstance(error, InvalidInputError) else str(error)
            raise argparse.ArgumentTypeError(reason) from None

    return convert


def _region(text: str) -> tuple[str, ...]:
    regions = [part.strip() for part in text.split(",") if part.strip()]
    if not regions:
        raise ValueError(f"no region in {text!r}")
    return tuple(dict.fromkeys(validate_region(region) for region in regions))


def _concurrency(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"invalid concurrency {text!r}: expected a whole number") from None
    if not 1 <= number <= MAX_CONCURRENCY:
        raise ValueError(f"invalid concurrency {number}: expected 1 to {MAX_CONCURRENCY}")
    return number
