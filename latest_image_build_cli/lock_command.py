"""``latest-image-build lock``: pin every lookup of an app in its lock file, for review.

Finds the app's locked lookups (by default running cdk.json's ``app`` command, as ``cdk
synth`` would), resolves each with the handler's own parser, resolver and gates, for the
stack's region and account, and writes the lock file: an entry is rewritten only when its
query or its resolution changed, so an unchanged lock stays byte-identical. Prints the
changes as a Markdown table. ``--check`` writes nothing and exits 3 when the file is out
of date.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from constructs_lib.lock_file import LOCK_FILE_CONTEXT, LockEntry, LockFile, LockFileError
from image_lookup import sdk
from image_lookup.deadline import Deadline
from image_lookup.errors import ImageLookupError, InvalidInputError
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.lookup_runner import lookup_image
from image_lookup.properties import parse_properties
from image_lookup.retry import Retrier
from latest_image_build_cli.app_lookups import CDK_JSON, FoundLookup, find_lookups
from latest_image_build_cli.aws_session import lookup_failure, sdk_session
from latest_image_build_cli.cli_errors import CommandError
from latest_image_build_cli.exit_codes import OK, STALE
from latest_image_build_cli.fleet_check import RoleAssumer, parse_role_name
from latest_image_build_cli.lock_changes import PinChange, changes_between, render_table
from latest_image_build_cli.resolve_command import add_run_options, configure_logging, run_policy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--app``, ``--lock-file``, ``--check``, ``--timeout``, ``--verbose``."""
    parser.add_argument(
        "--app",
        metavar="CMD_OR_CLOUD_ASSEMBLY_DIR",
        help=f"the app command, or a cloud assembly directory (default: {CDK_JSON}'s app)",
    )
    parser.add_argument(
        "--lock-file",
        metavar="PATH",
        help=f"the lock file (default: the app's {LOCK_FILE_CONTEXT} context, e.g. in "
        f"{CDK_JSON}); relative to the current directory, where the app runs; its folder "
        "must exist",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 3 when an entry is missing, invalid or would change",
    )
    parser.add_argument(
        "--role-name",
        type=_role_name,
        metavar="NAME",
        help="resolve each lookup whose stack names an account as a deploy there would: "
        "with this role assumed in that account (default: your own credentials for all)",
    )
    add_run_options(parser)


def run(args: argparse.Namespace) -> int:
    """Lock (or check); print the changes; return OK, or STALE for ``--check`` with changes."""
    directory = Path.cwd()
    if args.lock_file is not None:
        check_folder(directory / args.lock_file, args.lock_file)  # before the app runs
    found = find_lookups(args.app, args.lock_file, directory)
    if found.lock_file is None:
        raise CommandError(
            f"the app is not in lock mode: set the context key {LOCK_FILE_CONTEXT} (e.g. in "
            f"{CDK_JSON}) or pass --lock-file"
        )
    lock_path = directory / found.lock_file
    check_folder(lock_path, found.lock_file)
    old = read_lock(lock_path, found.lock_file)
    configure_logging(args.verbose)
    now = datetime.now(timezone.utc)
    new = LockFile(
        {
            path: old.entries[path] if old.entries.get(path) == entry else entry
            for path, entry in resolve_all(
                found.lookups, args.timeout, now, StackCredentials(args.role_name)
            ).items()
        }
    )
    changes = changes_between(old.entries, new.entries)
    if changes and not args.check:
        write_atomically(lock_path, new.render())
    sys.stdout.write(summary(changes, found.lock_file, len(new.entries), args.check, now))
    return STALE if changes and args.check else OK


def _role_name(text: str) -> str:
    """``--role-name``: an IAM role name (or ``path/NAME``)."""
    try:
        return parse_role_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def check_folder(path: Path, name: str) -> None:
    """The lock file's folder must exist: a mistyped path fails, it never makes folders."""
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise CommandError(
            f"cannot use lock file {name}: its folder {folder} {what}; create it, or name a "
            "lock file in an existing folder"
        )


def read_lock(path: Path, name: str) -> LockFile:
    """The current lock file; empty when it does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LockFile({})
    except OSError as error:
        raise CommandError(f"cannot read lock file {name}: {error.strerror}") from None
    try:
        return LockFile.parse(text, name)
    except LockFileError as error:
        raise CommandError(str(error)) from None


class StackCredentials:
    """Who resolves a stack's lookups: with ``--role-name``, that role assumed in the stack's
    account (once per account), as a deploy there sees the image (what is shared with it,
    its own AMI copies); else, or for a stack with no account, the caller."""

    def __init__(self, role_name: str | None) -> None:
        self.role_name = role_name
        self._assumers: dict[str, RoleAssumer] = {}
        self._credentials: dict[str, dict[str, str]] = {}

    def role_arn(self, lookup: FoundLookup) -> str | None:
        """The role the lookup is resolved with, or None for the caller's own credentials."""
        if self.role_name is None or lookup.stack.account is None:
            return None
        return self._assumer(lookup.stack.region).role_arn(lookup.stack.account)

    def credentials(self, lookup: FoundLookup) -> dict[str, str] | None:
        """Client keyword arguments for the lookup's stack account; None: the caller's.

        :raises CommandError: the role cannot be assumed (one line naming it).
        """
        account = lookup.stack.account
        if self.role_name is None or account is None:
            return None
        if account not in self._credentials:
            got = self._assumer(lookup.stack.region).credentials(account)
            if isinstance(got, str):
                raise CommandError(f"{lookup.path}: {got}")
            self._credentials[account] = got
        return self._credentials[account]

    def _assumer(self, region: str) -> RoleAssumer:
        assert self.role_name is not None
        if region not in self._assumers:
            self._assumers[region] = RoleAssumer(sdk_session(), region, self.role_name)
        return self._assumers[region]


def resolve_all(
    lookups: Iterable[FoundLookup],
    timeout: float,
    now: datetime,
    identities: StackCredentials | None = None,
) -> dict[str, LockEntry]:
    """Resolve every lookup as a deploy of its stack would; the same query and stack once."""
    identities = identities or StackCredentials(None)
    resolved: dict[str, dict[str, str]] = {}
    entries = {}
    for lookup in lookups:
        key = json.dumps([lookup.query, lookup.stack], sort_keys=True)
        if key not in resolved:
            resolved[key] = resolve_one(lookup, timeout, now, identities)
        entries[lookup.path] = LockEntry(lookup.query, lookup.stack, dict(resolved[key]))
    return entries


def resolve_one(
    lookup: FoundLookup,
    timeout: float,
    now: datetime,
    identities: StackCredentials | None = None,
) -> dict[str, str]:
    """The attributes a deploy would get: the properties it would send, the stack's region
    (where the image lives unless ``Region`` says otherwise, and where its AMI must be) and
    account, and with ``--role-name`` that account's view of the image.
    ``RequireAmi`` / ``RequireContainer`` are checked here, at lock time."""
    identities = identities or StackCredentials(None)
    policy = run_policy(timeout)
    deadline = Deadline(reserve_seconds=0.0, budget_seconds=timeout)
    log_context = {"construct_path": lookup.path}
    try:
        request = parse_properties(lookup.query)
        request = request._replace(region=request.region or lookup.stack.region)
        credentials = identities.credentials(lookup)
        gateway = None
        if credentials is not None:
            log_context["role"] = str(identities.role_arn(lookup))
            client = sdk.client(
                "imagebuilder", request.region, policy, "Image Builder", credentials=credentials
            )
            retrier = Retrier(deadline, client.meta.region_name, policy)
            gateway = ImageBuilderGateway(client, retrier)
        return lookup_image(
            request,
            deadline,
            retry_policy=policy,
            gateway=gateway,
            deploy_region=lookup.stack.region,
            account_id=lookup.stack.account,
            log_context=log_context,
            now=now,
        )
    except InvalidInputError as error:
        raise CommandError(f"{lookup.path}: {error.reason}") from None
    except ImageLookupError as error:
        raise CommandError(f"{lookup.path}: {lookup_failure(error, timeout)}") from None


def write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step, so a failed run never leaves half a lock file."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    # mkstemp makes the file 0600; the lock file keeps its mode, or gets a usual one.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def summary(
    changes: list[PinChange], lock_name: str, lookups: int, check: bool, now: datetime
) -> str:
    """The run's report: the Markdown table of changes, or one line when there are none."""
    if not changes:
        return f"{lock_name} is up to date ({lookups} lookups).\n"
    verb = "would change" if check else "changed"
    return (
        f"`latest-image-build lock` {verb} {len(changes)} of the pins in `{lock_name}` "
        f"({lookups} lookups):\n\n{render_table(changes, now)}"
    )
