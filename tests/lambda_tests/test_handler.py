"""The handler end to end: real boto3 against the local Image Builder endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest

from image_lookup.contract import ATTRIBUTE_KEYS as DATA_KEYS
from image_lookup.errors import InvalidInputError, NoMatchingImageError
from local_endpoints.imagebuilder import (
    ACCOUNT,
    OWNER_ACCOUNTS,
    REGION,
    FakeBuild,
    FakeImageBuilder,
)

Invoke = Callable[..., dict[str, Any]]
NAME = "golden-al2023"
#: Shared images take the listing path: their account is unknown, so no wildcard GetImage.
LISTED = "Shared"
SHARED_ACCOUNT = OWNER_ACCOUNTS[LISTED]


def model_page_size() -> int:
    """maxResults' upper bound in the installed botocore's model (100 now, 25 in 1.34)."""
    model = botocore.session.get_session().get_service_model("imagebuilder")
    shape = model.operation_model("ListImages").input_shape
    assert shape is not None
    return min(100, int(shape.members["maxResults"].metadata["max"]))


def arn(version: str, account: str = ACCOUNT, name: str = NAME) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{account}:image/{name}/{version}"


def test_numeric_ordering_picks_1_10_over_1_9(fake: FakeImageBuilder, invoke: Invoke) -> None:
    for version in ("1.2.0", "1.9.0", "1.10.0", "0.99.99"):
        fake.add(NAME, version)
    result = invoke(ImageName=NAME, VersionSelector="1.x.x")
    assert result["PhysicalResourceId"] == arn("1.10.0/1")
    assert result["Data"]["Version"] == "1.10.0"
    assert result["Data"]["BuildVersion"] == "1.10.0/1"
    assert result["Data"]["ImageVersionArn"] == arn("1.10.0")


def test_newest_available_build_wins_over_newer_failed_ones(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.4.0", "AVAILABLE", "AVAILABLE", "FAILED", "BUILDING", "DEPRECATED")
    result = invoke(ImageName=NAME)
    assert result["PhysicalResourceId"] == arn("1.4.0/2")


def test_falls_back_to_older_version_when_newest_has_no_available_build(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.default_owner = LISTED
    fake.add(NAME, "1.1.0")
    fake.add(NAME, "1.2.0", "AVAILABLE", "FAILED")
    fake.add(NAME, "1.3.0", "FAILED", "CANCELLED")
    fake.add(NAME, "1.4.0", "BUILDING")
    fake.add(NAME, "1.5.0", "DEPRECATED", "DISABLED", "DELETED")
    result = invoke(ImageName=NAME, VersionSelector="1.x.x", Owner=LISTED)
    assert result["Data"]["BuildVersion"] == "1.2.0/1"
    # one listing page, then one GetImage per version tried, newest first
    tried = [c.params["imageBuildVersionArn"] for c in fake.calls if c.operation == "GetImage"]
    versions = ("1.5.0", "1.4.0", "1.3.0", "1.2.0")
    assert tried == [arn(version, SHARED_ACCOUNT) for version in versions]


def test_own_image_resolves_in_one_wildcard_get_image(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.1.0")
    fake.add(NAME, "1.2.0", "AVAILABLE", "FAILED")
    fake.add(NAME, "1.3.0", "FAILED", "CANCELLED")
    fake.add(NAME, "1.5.0", "DEPRECATED", "DISABLED", "DELETED")
    fake.add(NAME, "2.0.0")
    result = invoke(ImageName=NAME, VersionSelector="1.x.x")
    assert result["Data"]["BuildVersion"] == "1.2.0/1"
    assert [(c.operation, c.params) for c in fake.calls] == [
        ("GetImage", {"imageBuildVersionArn": arn("1.x.x")})
    ]


def test_wildcard_not_found_falls_back_to_listing_for_the_reason(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.3.0", "FAILED")
    fake.add(NAME, "2.0.0")
    with pytest.raises(NoMatchingImageError, match=re.escape("versions seen: 2.0.0, 1.3.0")):
        invoke(ImageName=NAME, VersionSelector="1.x.x")
    assert [c.operation for c in fake.calls] == ["GetImage", "ListImages", "GetImage"]


def test_a_wildcard_answer_is_checked_not_trusted(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0")
    fake.add(NAME, "2.0.0")
    wrong = fake.images[1].image(fake.images[1].builds[0])  # 2.0.0/1: outside the selector
    fake.inject("GetImage", lambda _params: (200, {"requestId": "r", "image": wrong}))
    result = invoke(ImageName=NAME, VersionSelector="1.x.x")
    assert result["Data"]["BuildVersion"] == "1.0.0/1"
    assert [c.operation for c in fake.calls] == ["GetImage", "ListImages", "GetImage"]


def test_exact_version_selector(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.2.3", "AVAILABLE", "AVAILABLE")
    fake.add(NAME, "1.2.4")
    result = invoke(ImageName=NAME, VersionSelector="1.2.3")
    assert result["Data"]["BuildVersion"] == "1.2.3/2"


def test_minor_wildcard(fake: FakeImageBuilder, invoke: Invoke) -> None:
    for version in ("1.2.9", "1.2.10", "1.3.0", "2.2.11"):
        fake.add(NAME, version)
    assert invoke(ImageName=NAME, VersionSelector="1.2.x")["Data"]["Version"] == "1.2.10"


@pytest.mark.parametrize("name", ["Amazon Linux 2023 x86", "amazon-linux-2023-x86"])
def test_amazon_owned_image_by_either_name_in_one_call(
    fake: FakeImageBuilder, invoke: Invoke, name: str
) -> None:
    listed_name = "Amazon Linux 2023 x86"  # ListImages' name; ARNs say amazon-linux-2023-x86
    fake.add(listed_name, "2026.1.1", owner="Amazon")
    fake.add(listed_name, "2026.2.1", owner="Amazon")
    fake.add(listed_name, "2099.1.1", owner="Self")  # same name, other owner: not a candidate
    result = invoke(ImageName=name, Owner="Amazon")
    assert result["PhysicalResourceId"] == arn("2026.2.1/1", "aws", "amazon-linux-2023-x86")
    assert result["Data"]["ImageName"] == listed_name
    assert [(c.operation, c.params) for c in fake.calls] == [
        ("GetImage", {"imageBuildVersionArn": arn("x.x.x", "aws", "amazon-linux-2023-x86")})
    ]


@pytest.mark.parametrize("name", ["Amazon Linux 2023 x86", "amazon-linux-2023-x86"])
def test_either_name_form_finds_a_listed_image(
    fake: FakeImageBuilder, invoke: Invoke, name: str
) -> None:
    listed_name = "Amazon Linux 2023 x86"
    fake.add(listed_name, "2026.1.1", owner=LISTED)
    fake.add(listed_name, "2026.2.1", owner=LISTED)
    fake.add("Amazon Linux 2023 x86 minimal", "2027.1.1", owner=LISTED)
    result = invoke(ImageName=name, Owner=LISTED)
    assert result["Data"]["Version"] == "2026.2.1"
    listings = [c for c in fake.calls if c.operation == "ListImages"]
    assert listings[0].params["filters"] == [{"name": "name", "values": [name]}]
    # the ARN form is not the listed name, so a second listing goes by owner alone
    assert len(listings) == (1 if name == listed_name else 2)
    assert fake.count("ListImageBuildVersions") == 0


def test_versions_are_the_service_text(fake: FakeImageBuilder, invoke: Invoke) -> None:
    # AWS CLI list-images example: "version": "2019.12.03"
    fake.add(NAME, "2019.12.03")
    fake.add(NAME, "2019.12.2")
    for selector in ("x.x.x", "2019.12.03", "2019.12.3", "2019.x.x"):
        data = invoke(ImageName=NAME, VersionSelector=selector)["Data"]
        assert (data["Version"], data["BuildVersion"]) == ("2019.12.03", "2019.12.03/1")
        assert data["ImageBuildVersionArn"] == arn("2019.12.03/1")


def test_an_empty_selector_is_an_error_not_a_default(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.0.0")
    with pytest.raises(InvalidInputError, match="invalid version selector ''"):
        invoke(ImageName=NAME, VersionSelector="")
    assert fake.calls == []
    assert invoke(ImageName=NAME, Platform="", OsVersion="")["Data"]["Version"] == "1.0.0"


def test_shared_image_uses_get_image(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "3.0.0", "AVAILABLE", "AVAILABLE", owner="Shared")
    result = invoke(ImageName=NAME, Owner="Shared")
    assert result["PhysicalResourceId"] == arn("3.0.0/2", "210987654321")
    assert fake.counts() == {"ListImages": 1, "GetImage": 1}


def test_docker_image_returns_container_uri(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0", image_type="DOCKER")
    fake.add(NAME, "1.1.0", image_type="AMI")
    data = invoke(ImageName=NAME, ImageType="DOCKER")["Data"]
    assert data["ImageType"] == "DOCKER"
    assert data["Version"] == "1.0.0"
    assert data["ContainerImageUri"].endswith(f"/{NAME}:1.0.0-1")
    assert data["AmiId"] == ""
    listing = next(c for c in fake.calls if c.operation == "ListImages")
    assert {"name": "type", "values": ["DOCKER"]} in listing.params["filters"]


def test_platform_and_os_filters_are_sent_and_checked(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.0.0", platform="Windows", os_version="Microsoft Windows Server 2022")
    fake.add(NAME, "2.0.0", platform="Linux")
    fake.sloppy_name_filter = True  # and it ignores the other filters as well
    fake.ignore_other_filters = True
    data = invoke(ImageName=NAME, Platform="Windows", OsVersion="Microsoft Windows Server 2022")[
        "Data"
    ]
    assert data["Version"] == "1.0.0"
    assert data["Platform"] == "Windows"


def test_many_short_shuffled_pages(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.default_owner = LISTED
    for minor in range(60):
        fake.add(NAME, f"1.{minor}.0")
        fake.add("other-image", f"9.{minor}.0")
    fake.shuffle = True
    lengths = [1, 3, 0, 7, 2]
    fake.page_lengths = lambda offset: lengths[offset % len(lengths)] or 1
    fake.sloppy_name_filter = True
    result = invoke(ImageName=NAME, VersionSelector="1.x.x", Owner=LISTED)
    assert result["Data"]["Version"] == "1.59.0"
    listings = [c for c in fake.calls if c.operation == "ListImages"]
    assert len(listings) > 20
    assert all(c.params["maxResults"] == model_page_size() for c in listings)
    assert "nextToken" not in listings[0].params
    assert all("nextToken" in c.params for c in listings[1:])


def test_sloppy_name_filter_never_picks_another_image(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.0.0")
    fake.add(NAME + "-arm64", "5.0.0")
    fake.add("gol", "7.0.0")
    fake.sloppy_name_filter = True
    assert invoke(ImageName=NAME)["Data"]["Version"] == "1.0.0"


def test_throttling_burst_is_retried(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0", owner=LISTED)
    fake.fail_next("ListImages", 3, "ThrottlingException", 429)
    fake.fail_next("GetImage", 2, "CallRateLimitExceededException", 429)
    assert invoke(ImageName=NAME, Owner=LISTED)["Data"]["Version"] == "1.0.0"
    assert fake.counts() == {"ListImages": 4, "GetImage": 3}


@pytest.mark.parametrize(
    ("code", "status"),
    [("ServiceUnavailableException", 503), ("ServiceException", 500), ("BadGateway", 502)],
)
def test_5xx_answers_are_retried(
    fake: FakeImageBuilder, invoke: Invoke, code: str, status: int
) -> None:
    fake.add(NAME, "1.0.0", owner=LISTED)
    fake.fail_next("ListImages", 2, code, status)
    assert invoke(ImageName=NAME, Owner=LISTED)["Data"]["Version"] == "1.0.0"
    assert fake.count("ListImages") == 3


def test_no_match_names_image_selector_owner_and_versions_seen(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.0.0")
    fake.add(NAME, "2.1.0")
    with pytest.raises(NoMatchingImageError) as caught:
        invoke(ImageName=NAME, VersionSelector="3.x.x", Owner="Self")
    reason = str(caught.value)
    assert "\n" not in reason
    for part in (NAME, "3.x.x", "Self", "2.1.0, 1.0.0"):
        assert part in reason


def test_no_image_at_all(fake: FakeImageBuilder, invoke: Invoke) -> None:
    with pytest.raises(NoMatchingImageError, match="versions seen: none"):
        invoke(ImageName="missing-image", Owner="Amazon")


@pytest.mark.parametrize(
    "selector",
    [
        "1.x.3",
        "1.2",
        "1.X.x",
        "v1.2.3",
        "x.1.x",
        "",
        " 1.2.3",
        "1.2.3.4",
        "1073741824.x.x",
        "-1.x.x",
    ],
)
def test_invalid_selector_fails_before_any_call(
    fake: FakeImageBuilder, invoke: Invoke, selector: str
) -> None:
    props: dict[str, Any] = {"ImageName": NAME, "VersionSelector": selector}
    with pytest.raises(InvalidInputError) as caught:
        invoke(**props)
    assert repr(props["VersionSelector"]) in str(caught.value)
    assert fake.calls == []


def test_largest_node_is_accepted(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1073741823.0.0")
    data = invoke(ImageName=NAME, VersionSelector="1073741823.x.x")["Data"]
    assert data["Version"] == "1073741823.0.0"


def test_delete_makes_no_call_and_keeps_physical_id(fake: FakeImageBuilder, invoke: Invoke) -> None:
    result = invoke("delete")
    assert result == {"PhysicalResourceId": arn("1.0.0/1")}
    assert fake.calls == []


def test_update_re_resolves_to_the_newer_build(fake: FakeImageBuilder, invoke: Invoke) -> None:
    image = fake.add(NAME, "1.0.0")
    assert invoke("update", ImageName=NAME)["PhysicalResourceId"] == arn("1.0.0/1")
    image.builds.append(FakeBuild(2))
    assert invoke("update", ImageName=NAME)["PhysicalResourceId"] == arn("1.0.0/2")


def test_include_deprecated_for_own_images_lists_builds(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.0.0", "AVAILABLE")
    fake.add(NAME, "1.1.0", "AVAILABLE", "DEPRECATED", "FAILED")
    without = invoke(ImageName=NAME)
    assert without["Data"]["BuildVersion"] == "1.1.0/1"
    fake.calls.clear()
    with_deprecated = invoke(ImageName=NAME, IncludeDeprecated="true")
    assert with_deprecated["Data"]["BuildVersion"] == "1.1.0/2"
    assert fake.counts() == {"ListImages": 1, "ListImageBuildVersions": 1}
    listing = next(c for c in fake.calls if c.operation == "ListImages")
    assert listing.params["includeDeprecated"] is True


@pytest.mark.parametrize("owner", ["Amazon", "Shared", "ThirdParty", "AWSMarketplace"])
def test_include_deprecated_for_another_owner_is_refused_before_any_call(
    fake: FakeImageBuilder, invoke: Invoke, owner: str
) -> None:
    # ListImageBuildVersions answers only an image's owner, and GetImage on another
    # account's version resolves only AVAILABLE builds: the flag could never take effect.
    fake.add(NAME, "2.0.0", "DEPRECATED", owner=owner)
    with pytest.raises(InvalidInputError) as caught:
        invoke(ImageName=NAME, Owner=owner, IncludeDeprecated="true")
    assert str(caught.value) == (
        f"include_deprecated works only for owner 'Self', not '{owner}': Image Builder "
        "shows deprecated builds only to the image's owner"
    )
    assert fake.calls == []


def test_large_output_resources_stay_small(fake: FakeImageBuilder, invoke: Invoke) -> None:
    image = fake.add(NAME, "1.0.0")
    regions = [f"xx-region-{n}" for n in range(39)] + [REGION]
    image.builds[0].amis = [
        {
            "region": region,
            "image": f"ami-{n:017x}",
            "accountId": account,
            "name": "n" * 128,
            "description": "d" * 1000,
        }
        for n, region in enumerate(regions)
        for account in ("111111111111", ACCOUNT)
    ]
    result = invoke(ImageName=NAME)
    data = result["Data"]
    own_in_region = [
        a for a in image.builds[0].amis if a["region"] == REGION and a["accountId"] == ACCOUNT
    ]
    assert data["AmiId"] == own_in_region[0]["image"]
    assert len(json.dumps(result)) < 4096
    assert sorted(data) == sorted(DATA_KEYS)
    assert all(isinstance(value, str) for value in data.values())


def test_ami_is_the_one_in_the_stack_region(fake: FakeImageBuilder, invoke: Invoke) -> None:
    image = fake.add(NAME, "1.0.0")
    image.builds[0].amis = [
        {"region": "eu-west-1", "image": "ami-0000000000000e0e1", "accountId": ACCOUNT},
        {"region": REGION, "image": "ami-0000000000000a0a1", "accountId": ACCOUNT},
    ]
    assert invoke(ImageName=NAME)["Data"]["AmiId"] == "ami-0000000000000a0a1"
    image.builds[0].amis = image.builds[0].amis[:1]
    assert invoke(ImageName=NAME)["Data"]["AmiId"] == ""


def test_region_property_is_sent_to_that_region(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0", region="eu-west-1")
    data = invoke(ImageName=NAME, Region="eu-west-1")["Data"]
    assert data["ImageBuildVersionArn"].startswith("arn:aws:imagebuilder:eu-west-1:")


def test_a_lookup_that_feeds_an_ami_fails_when_the_build_has_none_here(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    image = fake.add(NAME, "1.0.0")
    image.builds[0].amis = [
        {"region": "eu-west-1", "image": "ami-0000000000000e0e1", "accountId": ACCOUNT}
    ]
    # without RequireAmi (no machine_image()/publish_parameter()), an empty AmiId is fine
    assert invoke(ImageName=NAME)["Data"]["AmiId"] == ""
    with pytest.raises(NoMatchingImageError) as caught:
        invoke(ImageName=NAME, RequireAmi="true")
    reason = str(caught.value)
    assert "\n" not in reason
    assert f"build {arn('1.0.0/1')} has no AMI in region {REGION}" in reason
