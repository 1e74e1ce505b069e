"""``check --accounts ... | --organization`` with ``--role-name`` and ``--regions``.

moto's server keeps one backend per account, and credentials from STS AssumeRole act in
the account of the role's ARN, as AWS's do; so each workload account's stacks and AMIs are
made with a role assumed there (``deployed_stacks.client``). ``account_gate`` stands in
front of moto's STS and CloudFormation to answer as IAM does where moto allows everything:
AccessDenied for a role that is missing (or does not trust the caller) and for a call the
role may not make. Images come from the local Image Builder: a factory account's image,
shared, distributed to each workload account and region.

Held (issue 21 §3, README "check"): every stack and lookup of every account and region, same
statuses and exit codes as for one account, account and region columns in every format; an
account that cannot be read is reported, never skipped, and exit 1 only when nothing could
be read.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from latest_image_build_cli.check_access import CHECK_READ_ACTIONS, CHECK_ROLE_NAME
from latest_image_build_cli.fleet_check import AccountOutcome, Progress
from local_endpoints.imagebuilder import FakeImageBuilder, FakeImageVersion
from local_endpoints.moto_services import MotoServices
from tests.cli_tests.account_gate import AccountGate
from tests.cli_tests.conftest import Cli, one_line_failure
from tests.cli_tests.deployed_stacks import client, deploy, lookup_resource, with_amis
from tests.cli_tests.test_check import readme_policy_actions

pytestmark = pytest.mark.filterwarnings(
    r"ignore:Tried to parse AWS\W+CloudFormation\W+WaitConditionHandle:UserWarning"
)
FACTORY = "111122223333"
ALPHA = "200000000001"
BETA = "200000000002"
NO_ROLE = "200000000003"
EAST, WEST = "us-east-1", "eu-west-1"


@pytest.fixture
def gate(moto: MotoServices) -> Iterator[AccountGate]:
    started = AccountGate(moto.url).start()
    yield started
    started.stop()


@pytest.fixture
def fleet_cli(stack_cli: Cli, gate: AccountGate) -> Cli:
    """The command, its STS and CloudFormation calls through the gate."""
    env = dict(stack_cli.env)
    env.update(AWS_ENDPOINT_URL_STS=gate.url, AWS_ENDPOINT_URL_CLOUDFORMATION=gate.url)
    return Cli(env, stack_cli.cwd)


def golden(fake: FakeImageBuilder, moto: MotoServices, version: str) -> FakeImageVersion:
    """The factory's image, shared, with an AMI copy in each workload account and region."""
    image = fake.add("golden", version, owner="Shared", owner_account=FACTORY)
    return with_amis(moto, image, ((ALPHA, EAST), (ALPHA, WEST), (BETA, EAST)))


def pin(moto: MotoServices, image: FakeImageVersion, account: str, region: str) -> None:
    """A stack ``Workload`` in ``account`` and ``region`` pinning ``image``'s build 1."""
    resource = lookup_resource(
        "Workload", "Base", ImageName="golden", Owner="Shared", ImageAccount=FACTORY,
        Region=EAST,  # the image lives in the factory's region; its AMIs are copied
    )  # fmt: skip
    deploy(moto, "Workload", {"Resources": {"Base": resource}},
           {"Base": image.build_arn(image.builds[0])}, account=account, region=region)  # fmt: skip


def check(cli: Cli, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = cli("check", *args, "--format", "json")
    assert result.stdout, result.stderr
    return result, json.loads(result.stdout)


def test_every_account_and_region_in_one_report(
    fake: FakeImageBuilder, moto: MotoServices, gate: AccountGate, fleet_cli: Cli
) -> None:
    old = golden(fake, moto, "1.0.0")
    new = golden(fake, moto, "1.1.0")
    pin(moto, new, ALPHA, EAST)  # current
    pin(moto, old, ALPHA, WEST)  # stale
    pin(moto, new, BETA, EAST)
    gate.missing_roles.add(f"arn:aws:iam::{NO_ROLE}:role/{CHECK_ROLE_NAME}")
    gate.denied.add((BETA, "ListStacks"))  # BETA's role may not list stacks... in any region
    accounts = ",".join((ALPHA, BETA, NO_ROLE))
    result, report = check(fleet_cli, "--accounts", accounts, "--regions", f"{EAST},{WEST}")
    assert result.returncode == 3, result.stderr  # stale wins; unread accounts do not count
    assert result.stderr == ""  # no progress line: stderr is not a terminal
    rows = {(r["account"], r["region"], r["stack"], r["status"]) for r in report["lookups"]}
    assert rows == {
        (ALPHA, EAST, "Workload", "current"),
        (ALPHA, WEST, "Workload", "stale"),
        (BETA, EAST, "(region)", "unread"),
        (BETA, WEST, "(region)", "unread"),
        (NO_ROLE, "", "(account)", "unread"),
    }
    problems = {r["account"]: r["problem"] for r in report["lookups"] if r["status"] == "unread"}
    assert problems[NO_ROLE].startswith(
        f"cannot assume arn:aws:iam::{NO_ROLE}:role/{CHECK_ROLE_NAME}: access denied"
    )
    assert "the role is missing or does not trust this identity" in problems[NO_ROLE]
    assert "access denied to cloudformation:ListStacks" in problems[BETA]
    # the AMI of each stack is its own account's copy in its own region
    alpha_east = next(r for r in report["lookups"] if r["region"] == EAST and r["account"] == ALPHA)
    assert new.builds[0].amis is not None
    assert alpha_east["pinned"]["ami_id"] == new.builds[0].amis[0]["image"]
    assert report["regions"] == [EAST, WEST] and report["region"] is None
    assert [a["account"] for a in report["accounts"]] == [ALPHA, BETA, NO_ROLE]
    by_account = {a["account"]: a for a in report["accounts"]}
    assert by_account[NO_ROLE]["unread"] and by_account[ALPHA]["unread"] is None
    assert by_account[ALPHA]["calls"] >= 2 * 3  # ListStacks, GetTemplate... in each region
    assert report["summary"]["unread"] == 3

    table = fleet_cli("check", "--accounts", accounts, "--regions", f"{EAST},{WEST}")
    header, *lines = table.stdout.splitlines()
    assert header.split()[:3] == ["Account", "Region", "Stack"]
    assert any(line.split()[:4] == [ALPHA, WEST, "Workload", "Workload/Base"] for line in lines)
    assert lines[-1] == (
        "2 lookups: 1 current, 1 stale; 3 unread (see their rows) "
        f"(3 accounts, 2 regions: {EAST}, {WEST})"
    )
    markdown = fleet_cli("check", "--accounts", accounts, "--regions", f"{EAST},{WEST}",
                         "--format", "markdown")  # fmt: skip
    assert markdown.returncode == 3
    assert f"| `{NO_ROLE}` |  | `(account)` |  | 🚫 unread |" in markdown.stdout


def test_nothing_readable_is_exit_1_with_the_report(
    moto: MotoServices, gate: AccountGate, fleet_cli: Cli
) -> None:
    gate.missing_roles.update(f"arn:aws:iam::{account}:role/Reader" for account in (ALPHA, BETA))
    result = fleet_cli(
        "check", "--accounts", f"{ALPHA},{BETA}", "--role-name", "Reader", "--format", "json"
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("latest-image-build: nothing could be read (2 accounts tried)")
    report = json.loads(result.stdout)
    assert report["exit_code"] == 1
    assert {r["status"] for r in report["lookups"]} == {"unread"}


def test_accounts_with_no_lookup_are_read_and_current(
    fake: FakeImageBuilder, moto: MotoServices, gate: AccountGate, fleet_cli: Cli
) -> None:
    """An account read that holds no lookup is no failure: exit 0."""
    new = golden(fake, moto, "1.1.0")
    pin(moto, new, ALPHA, EAST)
    result, report = check(fleet_cli, "--accounts", f"{ALPHA},{BETA}", "--regions", EAST)
    assert result.returncode == 0, result.stdout
    assert [(r["account"], r["status"]) for r in report["lookups"]] == [(ALPHA, "current")]
    assert all(a["unread"] is None for a in report["accounts"])
    # a named stack is looked for everywhere; one found nowhere is reported
    result, report = check(
        fleet_cli, "--accounts", f"{ALPHA},{BETA}", "--regions", EAST, "--stack", "Nope"
    )
    assert result.returncode == 1
    (row,) = report["lookups"]
    assert row["stack"] == "Nope" and row["status"] == "unknown"


def test_organization_lists_its_accounts(
    fake: FakeImageBuilder, moto: MotoServices, gate: AccountGate, fleet_cli: Cli
) -> None:
    """Organizations ListAccounts, from the management account (moto's default account)."""
    organizations = client(moto, "organizations")
    organizations.create_organization(FeatureSet="ALL")
    created = organizations.create_account(Email="workload@example.com", AccountName="workload")
    member = created["CreateAccountStatus"]["AccountId"]
    new = golden(fake, moto, "1.1.0")
    with_amis(moto, new, ((member, EAST),))
    pin(moto, new, member, EAST)
    result, report = check(fleet_cli, "--organization", "--regions", EAST)
    assert result.returncode == 0, result.stdout + result.stderr
    accounts = [a["account"] for a in report["accounts"]]
    assert member in accounts and "123456789012" in accounts  # the management account too
    assert [(r["account"], r["status"]) for r in report["lookups"]] == [(member, "current")]


def test_regions_alone_check_the_callers_account_in_each(
    fake: FakeImageBuilder, moto: MotoServices, stack_cli: Cli
) -> None:
    image = fake.add("golden", "1.0.0")
    with_amis(moto, image, (("123456789012", EAST), ("123456789012", WEST)))
    for region in (EAST, WEST):
        deploy(moto, "Workload", {"Resources": {"Base": lookup_resource(
            "Workload", "Base", ImageName="golden", Region=EAST)}},
            {"Base": image.build_arn(image.builds[0])}, region=region)  # fmt: skip
    result, report = check(stack_cli, "--regions", f"{EAST},{WEST}")
    assert result.returncode == 0, result.stdout
    assert [(r["region"], r["status"]) for r in report["lookups"]] == [
        (EAST, "current"),
        (WEST, "current"),
    ]
    assert "accounts" not in report


def test_fleet_usage_errors_are_one_line(stack_cli: Cli) -> None:
    assert "--role-name needs --accounts" in one_line_failure(
        stack_cli("check", "--all", "--role-name", "Reader"), 2
    )
    assert "invalid account id '12345'" in one_line_failure(
        stack_cli("check", "--accounts", "111122223333,12345"), 2
    )
    one_line_failure(stack_cli("check", "--accounts", ALPHA, "--organization"), 2)
    one_line_failure(stack_cli("check", "--region", EAST, "--regions", WEST), 2)
    assert "invalid concurrency 0" in one_line_failure(
        stack_cli("check", "--accounts", ALPHA, "--concurrency", "0"), 2
    )
    assert "invalid role name" in one_line_failure(
        stack_cli("check", "--accounts", ALPHA, "--role-name", "no spaces"), 2
    )


def test_the_check_role_grants_what_the_readme_policy_grants() -> None:
    """The role the library provides grants exactly the reads of README's CI policy, which
    ``test_the_readme_policy_allows_every_call_check_makes`` holds to the calls made."""
    granted = {action for actions in CHECK_READ_ACTIONS.values() for action in actions}
    assert granted == readme_policy_actions()


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_a_progress_line_only_on_a_terminal() -> None:
    """README "check": a progress line on stderr when it is a terminal, erased at the end."""
    assert Progress.for_terminal(2, _Stream(tty=False)) is None
    stream = _Stream(tty=True)
    progress = Progress.for_terminal(2, stream)
    assert progress is not None
    progress.update(AccountOutcome(ALPHA, []))
    progress.update(AccountOutcome(BETA, [], problem="cannot assume"))
    progress.finish()
    assert stream.getvalue() == ("\rcheck: 1/2 accounts\rcheck: 2/2 accounts (1 unread)\r\x1b[K")
