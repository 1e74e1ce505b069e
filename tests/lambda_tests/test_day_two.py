"""Day two in the handler: one account per pin, container checks, one name rule, short reasons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from image_lookup.errors import AmbiguousImageError, NoContainerError, NoMatchingImageError
from image_lookup.gates import describe_shortfall
from local_endpoints.imagebuilder import ACCOUNT, REGION, FakeImageBuilder

Invoke = Callable[..., dict[str, Any]]
NAME = "golden"
ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"


def arn(version: str, account: str, name: str = NAME) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{account}:image/{name}/{version}"


def share_from_two_accounts(fake: FakeImageBuilder) -> None:
    # ListImages with owner Shared lists every account's images the caller can see, each
    # version with its own ARN account (botocore's model: ImageVersion.arn, .owner).
    fake.add(NAME, "1.0.0", owner="Shared", owner_account=ACCOUNT_A)
    fake.add(NAME, "2.0.0", owner="Shared", owner_account=ACCOUNT_A)
    fake.add(NAME, "1.0.0", owner="Shared", owner_account=ACCOUNT_B)
    fake.add(NAME, "1.5.0", owner="Shared", owner_account=ACCOUNT_B)


@pytest.mark.parametrize("page_size", [1, 2, 100])
def test_a_name_shared_by_two_accounts_fails_naming_both_whatever_the_page_order(
    fake: FakeImageBuilder, invoke: Invoke, page_size: int
) -> None:
    share_from_two_accounts(fake)
    fake.shuffle = True
    fake.page_size = page_size
    with pytest.raises(AmbiguousImageError) as caught:
        invoke(ImageName=NAME, VersionSelector="1.0.0", Owner="Shared")
    assert str(caught.value) == (
        f"image '{NAME}' version '1.0.0' owner 'Shared' names images of 2 accounts "
        f"({ACCOUNT_A}, {ACCOUNT_B}): set image_account (CLI --account) to the one to pin from"
    )


@pytest.mark.parametrize(("account", "expected"), [(ACCOUNT_A, "2.0.0"), (ACCOUNT_B, "1.5.0")])
def test_image_account_pins_one_accounts_line_in_one_call(
    fake: FakeImageBuilder, invoke: Invoke, account: str, expected: str
) -> None:
    share_from_two_accounts(fake)
    result = invoke(ImageName=NAME, Owner="Shared", ImageAccount=account)
    assert result["PhysicalResourceId"] == arn(f"{expected}/1", account)
    # with the account known, the wildcard GetImage serves every owner
    assert [(c.operation, c.params) for c in fake.calls] == [
        ("GetImage", {"imageBuildVersionArn": arn("x.x.x", account)})
    ]


def test_image_account_keeps_to_its_line_on_the_listing_path(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    share_from_two_accounts(fake)
    # a platform filter takes the listing path: x.x.x must not mix the two lines
    result = invoke(ImageName=NAME, Owner="Shared", ImageAccount=ACCOUNT_B, Platform="Linux")
    assert result["PhysicalResourceId"] == arn("1.5.0/1", ACCOUNT_B)
    assert fake.count("ListImages") >= 1


def test_a_lookup_that_feeds_a_container_fails_when_there_is_none_here(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.0.0")  # an AMI build: no container image anywhere
    with pytest.raises(NoContainerError) as caught:
        invoke(ImageName=NAME, RequireContainer="true")
    assert str(caught.value) == (
        f"build {arn('1.0.0/1', ACCOUNT)} has no container image in region {REGION}; this "
        f"lookup feeds a container (container_image()): add {REGION} to the image's "
        "container distribution"
    )


def test_a_container_build_satisfies_require_container(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.0.0", image_type="DOCKER")
    data = invoke(ImageName=NAME, RequireContainer="true")["Data"]
    assert data["ContainerImageUri"].startswith(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/")


@pytest.mark.parametrize("extra", [{}, {"Platform": "Linux"}], ids=["one-call", "listing"])
def test_one_name_rule_on_every_path(
    fake: FakeImageBuilder, invoke: Invoke, extra: dict[str, str]
) -> None:
    fake.add("Amazon Linux 2023 x86", "2026.1.1", owner="Amazon")
    # the listed name and the ARN form resolve on both paths ...
    for name in ("Amazon Linux 2023 x86", "amazon-linux-2023-x86"):
        result = invoke(ImageName=name, Owner="Amazon", **extra)
        assert result["Data"]["Version"] == "2026.1.1"
    # ... and another spelling resolves on neither, with the same reason
    with pytest.raises(NoMatchingImageError) as caught:
        invoke(ImageName="AMAZON-LINUX-2023-X86", Owner="Amazon", **extra)
    assert str(caught.value).startswith("no image found for image 'AMAZON-LINUX-2023-X86'")


@pytest.mark.parametrize(
    ("age", "needed", "said"),
    [
        (30 * 3600, 36 * 3600, "30 hours old (needs 36 hours)"),
        (2 * 86400, 7 * 86400, "2 days old (needs 7 days)"),
        (86399, 86400, "23 hours old (needs 1 day)"),
        (3 * 86400, 90000, "72 hours old (needs 25 hours)"),
        (90 * 60 - 1, 90 * 60, "89 minutes old (needs 90 minutes)"),
        (59.5, 60, "59 seconds old (needs 1 minute)"),
        (0, 7 * 86400, "0 seconds old (needs 7 days)"),
        (30, 7 * 86400, "30 seconds old (needs 7 days)"),
    ],
)
def test_an_age_reason_never_contradicts_itself(age: float, needed: int, said: str) -> None:
    assert describe_shortfall(age, needed) == said


def test_many_rejections_leave_versions_seen_in_the_reason(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    now = datetime.now(timezone.utc)
    image = fake.add(NAME, "3.0.0", *["AVAILABLE"] * 60)
    for hours, build in enumerate(image.builds, start=1):
        build.date_created = (now - timedelta(hours=hours, minutes=7)).isoformat()
    for major in range(40):
        fake.add(NAME, f"1.{major}.0", "FAILED")
    with pytest.raises(NoMatchingImageError) as caught:
        invoke(ImageName=NAME, MinAgeSeconds=str(30 * 86400))
    reason = str(caught.value)
    assert len(reason) <= 1000
    assert "\n" not in reason
    assert reason.endswith(
        "; versions seen: 3.0.0, 1.39.0, 1.38.0, 1.37.0, 1.36.0, "
        "1.35.0, 1.34.0, 1.33.0, 1.32.0, 1.31.0, 1.30.0, 1.29.0 and 29 more"
    )
    # builds rejected for the same reason are named together, newest first
    assert "3.0.0/60, 3.0.0/59, 3.0.0/58, 3.0.0/57, 3.0.0/56, 3.0.0/55 and 7 more: 2 days old" in (
        reason
    )
