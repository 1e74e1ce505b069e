"""``check`` across accounts and regions: which accounts, their credentials, and the run.

Each account is read with a role assumed there (STS AssumeRole; default the library's
``CheckReadRole``), in every region asked for. Accounts run concurrently (their rate limits
are their own), a bounded number at a time; within one account, calls go one at a time and
are paced (``Pace``). An account or region that cannot be read is reported as ``unread``
with the reason, never skipped.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from typing import Any, NamedTuple, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from image_lookup.errors import ImageLookupError
from latest_image_build_cli.aws_session import (
    ACCESS_DENIED_CODES,
    READ_CONFIG,
    AccountClients,
    Pace,
    client_failure,
    lookup_failure,
    sdk_failure,
    sdk_session,
)
from latest_image_build_cli.check_access import ROLE_SESSION_NAME
from latest_image_build_cli.cli_errors import CommandError
from latest_image_build_cli.deployed_stacks import LookupSite, StackProblem, StackReader
from latest_image_build_cli.pin_check import UNKNOWN, UNREAD, LookupCheck, PinChecker

#: How a stack that could not be read shows in the report's Lookup column.
STACK_ROW = "(stack)"
#: How an account or region that could not be read shows in the Stack column.
ACCOUNT_ROW = "(account)"
REGION_ROW = "(region)"
#: Accounts read at once unless ``--concurrency`` says otherwise, and the most allowed.
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64
#: Calls per second (after a burst) to one account: its CloudFormation and Image Builder
#: read limits are per account and region, and a deploy may be using them at the same time.
ACCOUNT_CALLS_PER_SECOND = 10.0
ACCOUNT_BURST = 10.0
#: IAM role names (and optional paths) as IAM allows them (IAM API reference, CreateRole).
_ROLE_PATH_AND_NAME = re.compile(r"^(?:[!-.0-~]+/)*[\w+=,.@-]{1,64}$")
_ACCOUNT = re.compile(r"^\d{12}$")


class FleetAccount(NamedTuple):
    """An account to read; ``problem`` when it is known beforehand that it cannot be."""

    account_id: str
    problem: str = ""


def parse_accounts(text: str) -> tuple[str, ...]:
    """``--accounts 111122223333,444455556666``: 12-digit ids, duplicates dropped."""
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise ValueError(f"no account id in {text!r}")
    for account in ids:
        if not _ACCOUNT.match(account):
            raise ValueError(f"invalid account id {account!r}: expected 12 digits")
    return tuple(dict.fromkeys(ids))


def parse_role_name(text: str) -> str:
    """``--role-name NAME`` or ``path/NAME``, as IAM allows them."""
    if not _ROLE_PATH_AND_NAME.match(text):
        raise ValueError(f"invalid role name {text!r}: expected an IAM role name like MyRole")
    return text


def organization_accounts(session: boto3.session.Session, region: str) -> list[FleetAccount]:
    """Every account of the caller's organization (Organizations ListAccounts).

    Only the management account or a delegated administrator may list them. An account
    that is not ACTIVE (suspended, closing) is kept, with that as its problem.
    """
    client: Any = session.client("organizations", region_name=region, config=READ_CONFIG)
    accounts: list[FleetAccount] = []
    try:
        for page in client.get_paginator("list_accounts").paginate():
            for item in page.get("Accounts") or []:
                # "State" replaces the deprecated "Status" (Organizations API reference, Account)
                state = str(item.get("State") or item.get("Status") or "")
                problem = "" if state == "ACTIVE" else f"account is {state} in the organization"
                accounts.append(FleetAccount(str(item["Id"]), problem))
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code == "AWSOrganizationsNotInUseException":
            raise CommandError("--organization: this account is not in an organization") from None
        message = client_failure(error, "organizations:ListAccounts")
        if code in ACCESS_DENIED_CODES:
            message += "; run from the management account or a delegated administrator"
        raise CommandError(f"--organization: {message}") from None
    if not accounts:
        raise CommandError("--organization: the organization lists no account")
    return sorted(accounts)


class RoleAssumer:
    """Credentials for a role of the same name in each account (STS AssumeRole)."""

    def __init__(self, session: boto3.session.Session, region: str, role_name: str) -> None:
        self._client: Any = session.client("sts", region_name=region, config=READ_CONFIG)
        self._partition = session.get_partition_for_region(region)
        self._role_name = role_name
        self._lock = threading.Lock()

    def role_arn(self, account: str) -> str:
        """``arn:aws:iam::111122223333:role/NAME``."""
        return f"arn:{self._partition}:iam::{account}:role/{self._role_name}"

    def credentials(self, account: str) -> dict[str, str] | str:
        """Keyword arguments for clients acting in ``account``; or why there are none."""
        role = self.role_arn(account)
        try:
            answer = self._client.assume_role(RoleArn=role, RoleSessionName=ROLE_SESSION_NAME)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ACCESS_DENIED_CODES:
                # AWS answers a role that does not exist and one that does not trust the
                # caller alike (AccessDenied), so the message names both.
                return (
                    f"cannot assume {role}: access denied ({code}): the role is missing or "
                    "does not trust this identity (deploy CheckReadRole there, or pass "
                    "--role-name)"
                )
            return f"cannot assume {role}: {client_failure(error, 'sts:AssumeRole')}"
        except BotoCoreError as error:
            return f"cannot assume {role}: {sdk_failure(error) or error}"
        found = answer["Credentials"]
        return {
            "aws_access_key_id": found["AccessKeyId"],
            "aws_secret_access_key": found["SecretAccessKey"],
            "aws_session_token": found["SessionToken"],
        }


class AccountOutcome(NamedTuple):
    """What one account gave: its verdicts (unread rows included) and the calls it took."""

    account: str
    checks: list[LookupCheck]
    calls: int = 0
    problem: str = ""
    """Why the account could not be read at all."""
    missing: tuple[str, ...] = ()
    """Named stacks not found in any of its regions."""


def check_scope(
    clients: AccountClients,
    region: str,
    stacks: Sequence[str] | None,
    timeout: float,
    now: datetime,
    *,
    missing_ok: bool = False,
) -> tuple[list[LookupCheck], list[str]]:
    """The verdicts of one account and region, and the named stacks not found there."""
    reader = StackReader(clients, region)
    found = list(reader.every() if stacks is None else reader.named(stacks, missing_ok=missing_ok))
    sites = [item for item in found if isinstance(item, LookupSite)]
    checks = PinChecker(clients, region, timeout, now).check(sites)
    checks += [
        LookupCheck(stack=item.stack_name, lookup=STACK_ROW, logical_id="", status=UNKNOWN,
                    problem=item.problem, account=clients.account, region=region)
        for item in found
        if isinstance(item, StackProblem)
    ]  # fmt: skip
    return checks, reader.missing


def unread(account: str, region: str, problem: str) -> LookupCheck:
    """The row of an account (``region`` empty) or a region that could not be read."""
    return LookupCheck(
        stack=REGION_ROW if region else ACCOUNT_ROW,
        lookup="",
        logical_id="",
        status=UNREAD,
        problem=problem,
        account=account,
        region=region,
    )


class FleetCheck:
    """Checks every stack (or the named ones) of many accounts, in every region given."""

    def __init__(
        self,
        assumer: RoleAssumer | None,
        regions: Sequence[str],
        stacks: Sequence[str] | None,
        timeout: float,
        now: datetime,
        *,
        pace: Callable[[], Pace | None] = lambda: Pace(ACCOUNT_CALLS_PER_SECOND, ACCOUNT_BURST),
    ) -> None:
        self._assumer = assumer
        self._regions = tuple(regions)
        self._stacks = tuple(stacks) if stacks is not None else None
        self._timeout = timeout
        self._now = now
        self._pace = pace

    def run(
        self,
        accounts: Sequence[FleetAccount],
        concurrency: int,
        progress: Progress | None = None,
    ) -> list[AccountOutcome]:
        """Every account's outcome, in the order given."""
        outcomes: dict[str, AccountOutcome] = {}
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="check") as pool:
            futures = {pool.submit(self.account, account): account for account in accounts}
            for future in as_completed(futures):
                outcome = future.result()
                outcomes[outcome.account] = outcome
                if progress is not None:
                    progress.update(outcome)
        if progress is not None:
            progress.finish()
        return [outcomes[account.account_id] for account in accounts]

    def account(self, account: FleetAccount) -> AccountOutcome:
        """One account, every region, in this thread (no role to assume: the caller's own)."""
        if account.problem:
            return _unread_account(account.account_id, account.problem, calls=0)
        assume_calls = 0
        if self._assumer is None:
            clients = AccountClients(sdk_session(), pace=self._pace())
        else:
            credentials = self._assumer.credentials(account.account_id)
            assume_calls = 1
            if isinstance(credentials, str):
                return _unread_account(account.account_id, credentials, calls=1)
            clients = AccountClients(
                sdk_session(),
                account=account.account_id,
                credentials=credentials,
                pace=self._pace(),
            )
        checks: list[LookupCheck] = []
        missing_everywhere: set[str] | None = None
        for region in self._regions:
            try:
                found, missing = check_scope(
                    clients, region, self._stacks, self._timeout, self._now, missing_ok=True
                )
            except CommandError as error:
                checks.append(unread(account.account_id, region, error.message))
                continue
            except (ClientError, BotoCoreError) as error:
                checks.append(unread(account.account_id, region, sdk_failure(error) or str(error)))
                continue
            except ImageLookupError as error:
                checks.append(
                    unread(account.account_id, region, lookup_failure(error, self._timeout))
                )
                continue
            checks += found
            missing_everywhere = (
                set(missing) if missing_everywhere is None else missing_everywhere & set(missing)
            )
        read_any = any(check.status != UNREAD for check in checks) or missing_everywhere is not None
        problem = "" if read_any else "no region could be read"
        return AccountOutcome(
            account.account_id,
            checks,
            calls=clients.calls + assume_calls,
            problem=problem,
            missing=tuple(sorted(missing_everywhere or ())),
        )


def _unread_account(account: str, problem: str, calls: int) -> AccountOutcome:
    return AccountOutcome(account, [unread(account, "", problem)], calls=calls, problem=problem)


class Progress:
    """``check: 37/200 accounts (1 unread)`` on one stderr line, rewritten as accounts finish."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = total
        self._done = 0
        self._unread = 0
        self._stream = stream

    @classmethod
    def for_terminal(cls, total: int, stream: TextIO | None = None) -> Progress | None:
        """A progress line when ``stream`` (default stderr) is a terminal, else None."""
        stream = stream if stream is not None else sys.stderr
        return cls(total, stream) if stream.isatty() else None

    def update(self, outcome: AccountOutcome) -> None:
        """Count a finished account and redraw the line."""
        self._done += 1
        self._unread += 1 if outcome.problem else 0
        unread_note = f" ({self._unread} unread)" if self._unread else ""
        self._stream.write(f"\rcheck: {self._done}/{self._total} accounts{unread_note}")
        self._stream.flush()

    def finish(self) -> None:
        """Erase the line, so that only the report remains."""
        self._stream.write("\r\x1b[K")
        self._stream.flush()


def all_checks(
    outcomes: Sequence[AccountOutcome], stacks: Sequence[str] | None
) -> Iterator[LookupCheck]:
    """Every row, account by account; then each named stack found in no account read."""
    for outcome in outcomes:
        yield from outcome.checks
    if stacks is None:
        return
    read = [outcome for outcome in outcomes if not outcome.problem]
    for name in stacks:
        if read and all(name in outcome.missing for outcome in read):
            yield LookupCheck(
                stack=name, lookup=STACK_ROW, logical_id="", status=UNKNOWN,
                problem="not found (or holding no lookup) in any account and region read",
            )  # fmt: skip
