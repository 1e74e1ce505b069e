"""Property parsing, and the str-based validators checked against the service model's regexes."""

from __future__ import annotations

import re

import botocore.session
import pytest
from hypothesis import given
from hypothesis import strategies as st

from image_lookup.contract import ImageOwner, ImageType
from image_lookup.errors import InvalidInputError
from image_lookup.properties import (
    ignored_properties,
    parse_properties,
    validate_filter_value,
    validate_image_name,
    validate_region,
)

SHAPES = botocore.session.get_session().get_service_model("imagebuilder")
NAME_PATTERN = re.compile(SHAPES.shape_for("ResourceName").metadata["pattern"])
FILTER_PATTERN = re.compile(SHAPES.shape_for("FilterValue").metadata["pattern"])
name_like = st.text(alphabet="abcXYZ019-_ *.é\n", max_size=140)


def accepts(check: object, value: str) -> bool:
    try:
        check(value)  # type: ignore[operator]
    except InvalidInputError:
        return False
    return True


@given(name_like)
def test_image_names_agree_with_the_service_pattern(name: str) -> None:
    assert accepts(validate_image_name, name) == bool(NAME_PATTERN.fullmatch(name))


@given(st.text(alphabet='aZ09./_ :,{}"-*é\n', max_size=30))
def test_filter_values_agree_with_the_service_pattern_less_wildcards(value: str) -> None:
    # less "*" (only the name filter takes it) and less ,{}" (absent from older SDK models)
    expected = bool(FILTER_PATTERN.fullmatch(value)) and not set(value) & set('*,{}"')
    assert accepts(lambda v: validate_filter_value("platform", v), value) == expected


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1"])
def test_region_names(region: str) -> None:
    assert validate_region(region) == region


def botocore_regions() -> set[str]:
    """Every region of every partition that this botocore knows (endpoints.json, and
    partitions.json where this botocore ships it)."""
    loader = botocore.session.get_session().get_component("data_loader")
    regions = {
        region
        for partition in loader.load_data("endpoints")["partitions"]
        for region in partition["regions"]
    }
    try:
        partitions = loader.load_data("partitions")["partitions"]
    except Exception:  # older botocore: endpoints.json only
        partitions = []
    regions.update(region for partition in partitions for region in partition.get("regions", {}))
    # "aws-global", "aws-cn-global", ...: endpoints of global services, not regions
    return {region for region in regions if not region.endswith("-global")}


def test_every_region_botocore_knows_is_valid_in_every_partition() -> None:
    regions = botocore_regions()
    assert {"us-east-1", "us-gov-west-1", "cn-north-1"} <= regions
    invalid = [region for region in sorted(regions) if not accepts(validate_region, region)]
    assert invalid == []


@pytest.mark.parametrize("region", ["eusc-de-east-1", "us-isob-east-1", "eu-isoe-west-1"])
def test_regions_of_newer_partitions(region: str) -> None:
    # aws-eusc (European Sovereign Cloud), aws-iso-b and aws-iso-e, as botocore's
    # partitions.json names them
    assert validate_region(region) == region


@pytest.mark.parametrize(
    "region", ["mars-1", "us-east", "US-EAST-1", "us-east-123", "us--1", "ü1-x-1"]
)
def test_bad_region_names(region: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(repr(region))):
        validate_region(region)


def test_full_properties() -> None:
    request = parse_properties(
        {
            "ServiceToken": "arn:aws:lambda:us-east-1:1:function:f",
            "ImageName": "Amazon Linux 2023 x86",
            "VersionSelector": "1.2.x",
            "Owner": "amazon",
            "ServiceTimeout": "300",
            "Platform": "Linux",
            "OsVersion": "Amazon Linux 2023",
            "ImageType": "DOCKER",
            "IncludeDeprecated": "False",
            "Region": "eu-west-1",
            "RefreshToken": "1700000000",
        }
    )
    assert request.owner is ImageOwner.AMAZON and request.filters.image_type is ImageType.DOCKER
    assert request.selector.fixed == (1, 2) and not request.include_deprecated
    assert (request.filters.platform, request.filters.os_version, request.region) == (
        "Linux",
        "Amazon Linux 2023",
        "eu-west-1",
    )


def test_defaults_and_empty_strings() -> None:
    request = parse_properties({"ImageName": "golden", "Platform": "", "Region": ""})
    assert request.selector.text == "x.x.x" and request.owner is ImageOwner.SELF
    assert request.filters.platform is None and request.region is None
    assert not request.include_deprecated


@pytest.mark.parametrize(
    ("props", "shown"),
    [
        ({}, "ImageName is required"),
        ({"ImageName": "golden", "Owner": "Selfish"}, "'Selfish'"),
        ({"ImageName": "golden", "ImageAccount": "12345"}, "invalid image account '12345'"),
        ({"ImageName": "golden", "Version": "1.x.x"}, "'Version': did you mean VersionSelector?"),
        ({"ImageName": "golden", "Type": "AMI"}, "'Type': did you mean ImageType?"),
        ({"ImageName": "golden", "Account": "aws"}, "'Account': did you mean ImageAccount?"),
        ({"ImageName": "golden", "MinAge": "60"}, "'MinAge': did you mean MinAgeSeconds?"),
        ({"ImageName": "golden", "ImageType": "ami"}, "'ami'"),
        ({"ImageName": "golden", "IncludeDeprecated": "yes"}, "'yes'"),
        ({"ImageName": "golden", "Imagename": "1"}, "'Imagename': did you mean ImageName?"),
        ({"ImageName": "golden", "VersionSelecter": "1"}, "did you mean VersionSelector?"),
        ({"ImageName": "golden", "VersionSelector": ""}, "invalid version selector ''"),
        ({"ImageName": 7}, "7"),
    ],
)
def test_bad_properties_name_the_value(props: dict[str, object], shown: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(shown)):
        parse_properties(props)


@pytest.mark.parametrize(
    "extra",
    [
        {"ServiceToken": "arn:aws:lambda:us-east-1:1:function:f", "ServiceTimeout": "300"},
        {"Typo": "1", "SomeFutureCloudFormationKey": "x"},
    ],
)
def test_keys_that_are_not_ours_never_fail(extra: dict[str, str]) -> None:
    request = parse_properties({"ImageName": "golden", **extra})
    assert request.image_name == "golden"
    expected = sorted(key for key in extra if not key.startswith("Service"))
    assert list(ignored_properties({"ImageName": "golden", **extra})) == expected
