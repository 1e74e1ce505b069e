"""Promotion gates: tags and bake time, against the local endpoint and as pure rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from image_lookup.deadline import Deadline
from image_lookup.errors import InvalidInputError, NoMatchingImageError
from image_lookup.gates import PromotionGates, parse_age
from image_lookup.lookup_runner import lookup_image
from image_lookup.properties import parse_properties
from local_endpoints.imagebuilder import ACCOUNT, FakeImageBuilder

Invoke = Callable[..., dict[str, Any]]
NAME = "golden-al2023"
NOW = datetime.now(timezone.utc)


def created(age: timedelta) -> str:
    """A dateCreated as the service writes it (AWS CLI example: 2020-02-14T19:46:16.904Z)."""
    return (NOW - age).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_own_image_newest_build_with_the_tag_wins(fake: FakeImageBuilder, invoke: Invoke) -> None:
    image = fake.add(NAME, "1.4.0", "AVAILABLE", "AVAILABLE", "AVAILABLE")
    image.builds[1].tags = {"stage": "prod"}
    image.builds[2].tags = {"stage": "dev"}
    data = invoke(ImageName=NAME, RequireTags={"stage": "prod"})["Data"]
    assert data["BuildVersion"] == "1.4.0/2"
    # every build comes with its tags in one listing: no call per build
    assert fake.counts() == {"ListImages": 1, "ListImageBuildVersions": 1}


def test_bake_time_around_the_boundary(fake: FakeImageBuilder, invoke: Invoke) -> None:
    image = fake.add(NAME, "1.0.0", "AVAILABLE", "AVAILABLE")
    image.builds[0].date_created = created(timedelta(days=3, hours=1))
    image.builds[1].date_created = created(timedelta(days=3) - timedelta(hours=1))
    data = invoke(ImageName=NAME, MinAgeSeconds=str(3 * 86400))["Data"]
    assert data["BuildVersion"] == "1.0.0/1"
    assert invoke(ImageName=NAME, MinAgeSeconds=str(2 * 86400))["Data"]["BuildVersion"] == (
        "1.0.0/2"
    )


def test_exact_boundary_passes_with_an_injected_clock() -> None:
    gates = PromotionGates(min_age_seconds=7 * 86400)
    date = "2026-11-20T12:00:00.000Z"
    at = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
    assert gates.rejection({}, date, at) is None
    assert gates.rejection({}, date, at - timedelta(seconds=1)) == "6 days old (needs 7 days)"


def test_bake_time_boundary_through_the_lookup_with_an_injected_clock(
    fake: FakeImageBuilder,
) -> None:
    image = fake.add(NAME, "1.0.0", "AVAILABLE", "AVAILABLE")
    image.builds[1].date_created = "2026-11-20T12:00:00.000Z"
    request = parse_properties({"ImageName": NAME, "MinAgeSeconds": str(7 * 86400)})
    seven_days_on = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
    deadline = Deadline(budget_seconds=60)
    data = lookup_image(request, deadline, account_id=ACCOUNT, now=seven_days_on)
    assert data["BuildVersion"] == "1.0.0/2"  # exactly seven days old: qualifies
    a_second_early = seven_days_on - timedelta(seconds=1)
    data = lookup_image(request, deadline, account_id=ACCOUNT, now=a_second_early)
    assert data["BuildVersion"] == "1.0.0/1"  # build 1 was created long before


def test_revocation_after_pinning_is_replaced(fake: FakeImageBuilder, invoke: Invoke) -> None:
    image = fake.add(NAME, "2.0.0", "AVAILABLE", "AVAILABLE")
    gates = {"ExcludeTags": {"quarantine": "true"}}
    assert invoke("update", ImageName=NAME, **gates)["Data"]["BuildVersion"] == "2.0.0/2"
    image.builds[1].tags = {"quarantine": "true"}  # aws imagebuilder tag-resource
    assert invoke("update", ImageName=NAME, **gates)["Data"]["BuildVersion"] == "2.0.0/1"


def test_shared_image_whose_newest_build_fails_a_gate_skips_the_version(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    newer = fake.add(NAME, "2.0.0", "AVAILABLE", "AVAILABLE", owner="Shared")
    newer.builds[0].tags = {"stage": "prod"}  # an older build: the service shows only /2
    older = fake.add(NAME, "1.0.0", owner="Shared")
    older.builds[0].tags = {"stage": "prod"}
    data = invoke(ImageName=NAME, Owner="Shared", RequireTags={"stage": "prod"})["Data"]
    assert data["BuildVersion"] == "1.0.0/1"
    assert fake.count("ListImageBuildVersions") == 0


def test_unreadable_dates_fail_the_age_gate_and_say_so(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    image = fake.add(NAME, "1.0.0")
    image.builds[0].date_created = "yesterday"
    with pytest.raises(
        NoMatchingImageError, match=re.escape("creation time 'yesterday' unreadable")
    ):
        invoke(ImageName=NAME, MinAgeSeconds="60")


def test_no_qualifying_build_names_the_gates_and_the_newest_rejections(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    image = fake.add(NAME, "1.4.0", *["AVAILABLE"] * 40)
    for build in image.builds:
        build.date_created = created(timedelta(days=2))
    image.builds[-1].tags = {"stage": "prod"}
    with pytest.raises(NoMatchingImageError) as caught:
        invoke(ImageName=NAME, RequireTags={"stage": "prod"}, MinAgeSeconds=str(7 * 86400))
    reason = str(caught.value)
    assert "\n" not in reason and len(reason) <= 1024
    assert "require stage=prod, min age 7 days" in reason
    # builds rejected for the same reason share it: the gate's text is said once
    assert (
        "1.4.0/40: 2 days old (needs 7 days); 1.4.0/39, 1.4.0/38, 1.4.0/37, 1.4.0/36, "
        "1.4.0/35, 1.4.0/34 and 33 more: lacks stage=prod; versions seen: 1.4.0"
    ) in reason


@pytest.mark.parametrize(
    ("props", "shown"),
    [
        ({"RequireTags": {"": "x"}}, "''"),
        ({"ExcludeTags": {"aws:x": "y"}}, "'aws:x'"),
        ({"RequireTags": {"k": "v" * 257}}, "'vvv"),
        ({"MinAgeSeconds": "-5"}, "'-5'"),
        ({"MinAgeSeconds": "1.5"}, "'1.5'"),
        ({"RequireTags": "stage=prod"}, "'stage=prod'"),
    ],
)
def test_bad_gates_name_the_value(
    fake: FakeImageBuilder, invoke: Invoke, props: dict[str, Any], shown: str
) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(shown)):
        invoke(ImageName=NAME, **props)
    assert fake.calls == []


tag_text = st.sampled_from(["stage", "prod", "dev", "qa"])
tag_maps = st.dictionaries(tag_text, tag_text, max_size=3)


@given(
    tags=tag_maps,
    required=tag_maps,
    excluded=tag_maps,
    age=st.integers(min_value=0, max_value=10**7),
    min_age=st.integers(min_value=0, max_value=10**7),
)
def test_gate_rules_read_literally(
    tags: dict[str, str],
    required: dict[str, str],
    excluded: dict[str, str],
    age: int,
    min_age: int,
) -> None:
    gates = PromotionGates(tuple(required.items()), tuple(excluded.items()), min_age)
    at = datetime(2026, 11, 27, tzinfo=timezone.utc)
    date = (at - timedelta(seconds=age)).isoformat()
    passes = (
        all(tags.get(k) == v for k, v in required.items())
        and not any(tags.get(k) == v for k, v in excluded.items())
        and age >= min_age
    )
    assert (gates.rejection(tags, date, at) is None) == passes


@pytest.mark.parametrize(
    ("text", "seconds"), [("90m", 5400), ("36h", 129600), ("7d", 604800), ("45", 45)]
)
def test_cli_ages(text: str, seconds: int) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "7w", "-1d", "1.5h", "d"])
def test_bad_cli_ages(text: str) -> None:
    assert parse_age(text) is None
