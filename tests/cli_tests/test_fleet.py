"""``latest-image-build fleet``: the factory's view, from the registry the registry code wrote.

The holders are recorded by the registry itself (``pin_registry.registry``) in moto's
DynamoDB (the table as ``ImageFactory`` synthesizes it); the builds are the local Image
Builder's; the command runs as users run it, in a subprocess.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from image_lookup.deadline import Deadline
from image_lookup.pins import REGISTRY_NAME, Holder
from local_endpoints.imagebuilder import ACCOUNT, FakeImageBuilder
from local_endpoints.moto_services import MotoServices
from pin_registry.marker import BuildMarker
from pin_registry.registry import Registry
from pin_registry.store_api import PinStore
from tests.cli_tests.conftest import Cli, one_line_failure
from tests.support.registry import REGION, create_registry_table

WORKLOAD = "210987654321"
UUID = "1b2c3d40-0000-11ef-8000-0a1b2c3d4e5f"


def stack(account: str, name: str, region: str = "eu-west-1") -> str:
    return f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{UUID}"


@pytest.fixture
def factory(
    fake: FakeImageBuilder, moto: MotoServices, monkeypatch: pytest.MonkeyPatch
) -> FakeImageBuilder:
    """This process's SDK on moto (DynamoDB, EC2) and the local Image Builder; a registry table."""
    for name, value in moto.client_environment().items():
        if name.startswith("AWS_ENDPOINT_URL_") and not name.endswith("IMAGEBUILDER"):
            monkeypatch.setenv(name, value)
    create_registry_table(REGION)
    return fake


def registry(clock: float | None = None) -> Registry:
    deadline = Deadline(budget_seconds=60.0, reserve_seconds=0.0)
    now = time.time() if clock is None else clock
    return Registry(
        PinStore.for_table(REGISTRY_NAME, REGION, deadline),
        BuildMarker(ACCOUNT, deadline),
        clock=lambda: now,
    )


def fleet(stack_cli: Cli, *args: str) -> Any:
    result = stack_cli("fleet", "--region", REGION, *args)
    assert result.returncode == 0, result.stderr
    return result


def test_fleet_lists_pinned_builds_their_holders_and_the_builds_nobody_pins(
    factory: FakeImageBuilder, stack_cli: Cli
) -> None:
    old = factory.add("golden", "1.3.0")
    new = factory.add("golden", "1.4.0", "AVAILABLE", "FAILED")
    old_build, new_build = old.build_arn(old.builds[0]), new.build_arn(new.builds[0])
    keeper = registry()
    keeper.acquire(Holder(stack(WORKLOAD, "Payments"), "BaseImage").pin(new_build))
    keeper.acquire(Holder(stack(ACCOUNT, "Factory", REGION), "Golden").pin(new_build))

    view = json.loads(fleet(stack_cli, "--format", "json").stdout)

    (pinned,) = view["pinned"]
    assert pinned["build"] == new_build
    assert [(h["account"], h["region"], h["stack"], h["logicalId"]) for h in pinned["holders"]] == [
        (ACCOUNT, REGION, "Factory", "Golden"),
        (WORKLOAD, "eu-west-1", "Payments", "BaseImage"),
    ]
    # 1.3.0/1 is AVAILABLE and held by nobody; 1.4.0/2 FAILED, so no lookup could pin it
    assert view["unpinned"] == [old_build]
    assert view["endedLeases"] == []

    table = fleet(stack_cli).stdout
    assert "golden/1.4.0/1  210987654321  eu-west-1  Payments" in table
    assert "Nobody pins: golden/1.3.0/1" in table
    assert "1 builds pinned by 2 lookups; 1 available builds nobody pins" in table


def test_a_holder_whose_lease_ended_does_not_count_as_a_pin(
    factory: FakeImageBuilder, stack_cli: Cli
) -> None:
    image = factory.add("golden", "1.4.0")
    build = image.build_arn(image.builds[0])
    four_days_ago = time.time() - 4 * 24 * 3600
    registry(four_days_ago).acquire(Holder(stack(WORKLOAD, "Closed"), "BaseImage").pin(build))

    view = json.loads(fleet(stack_cli, "--format", "json").stdout)
    assert view["pinned"] == [] and view["unpinned"] == [build]
    assert [(h["build"], h["stack"]) for h in view["endedLeases"]] == [(build, "Closed")]


def test_markdown_cells_cannot_leave_their_cell(factory: FakeImageBuilder, stack_cli: Cli) -> None:
    """Stack names come from other accounts: each cell is a code span with pipes escaped."""
    image = factory.add("golden", "1.4.0")
    build = image.build_arn(image.builds[0])
    registry().acquire(Holder(stack(WORKLOAD, "a|<b>[x](y)"), "BaseImage").pin(build))

    out = fleet(stack_cli, "--format", "markdown").stdout
    row = next(line for line in out.splitlines() if WORKLOAD in line)
    assert row.count(" | ") == 5  # six cells, however the stack is named
    assert "<b>" not in row.replace("`", "").split("|")[0]


def test_no_registry_table_is_one_line(fake: FakeImageBuilder, stack_cli: Cli) -> None:
    message = one_line_failure(stack_cli("fleet", "--region", REGION), 1)
    assert f"no pin registry table {REGISTRY_NAME!r} in region {REGION}" in message
    assert "ImageFactory" in message
