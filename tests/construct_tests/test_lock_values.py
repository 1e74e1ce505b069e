"""A lock entry's values are checked at synth as a deploy's answer would be (issue 20 §4).

README "Lock mode": the lock file is committed text; a hand edit that no deploy would pin
fails synth in one line naming the construct path, the key and the value. The shapes are
the service's: botocore's ``ImageBuildVersionArn`` pattern (partition, region, account,
lowercase name, x.y.z/n), EC2 image ids (``ami-`` and 8 or 17 hex digits), ECR image URIs
(``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>``), the ``Platform`` enum
(Windows, Linux, macOS) and ``ImageType`` (AMI, DOCKER). A CloudFormation dynamic reference
(``{{resolve:ssm:...}}``, CloudFormation User Guide "Get values stored in other services
using dynamic references": resolved at deploy) or CDK token text is refused anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from constructs_lib import ImageOwner, LatestImageBuild
from constructs_lib.lock_file import LockFileError
from constructs_lib.lock_values import partition_of
from image_lookup.errors import show_value
from tests.construct_tests.test_lock_mode import (
    ACCOUNT,
    BASE_PIN,
    BASE_QUERY,
    COMMAND,
    ENV,
    GOLDEN_PIN,
    GOLDEN_QUERY,
    LOCK_NAME,
    REGION,
    SERVICE_PIN,
    SERVICE_QUERY,
    locked_app,
    write_lock,
)

pytestmark = pytest.mark.synth

ARN = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.4.0"
OTHER_IMAGE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/other/1.4.0/1"
OTHER_PARTITION = f"arn:aws-cn:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.4.0/1"
OTHER_REGION = f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image/golden/1.4.0/1"


def golden(tmp_path: Path, **changed: str) -> LatestImageBuild:
    """The golden lookup, synthesized from a lock whose pin has ``changed`` values."""
    write_lock(tmp_path, {"Prod/Golden": (GOLDEN_QUERY, {**GOLDEN_PIN, **changed})})
    stack = cdk.Stack(locked_app(tmp_path), "Prod", env=ENV)
    lookup = LatestImageBuild(
        stack, "Golden", image_name="golden", version="1.x.x", platform="Linux"
    )
    lookup.machine_image()
    return lookup


def refusal(tmp_path: Path, **changed: str) -> str:
    with pytest.raises(LockFileError) as error:
        golden(tmp_path, **changed)
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith(f"LatestImageBuild Prod/Golden: its entry in lock file {tmp_path}")
    assert text.endswith(f"; run `{COMMAND}` to re-pin it")
    return text


def test_a_dynamic_reference_is_refused_naming_the_path_the_key_and_the_value(
    tmp_path: Path,
) -> None:
    value = "{{resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64}}"
    assert refusal(tmp_path, AmiId=value) == (
        f"LatestImageBuild Prod/Golden: its entry in lock file {tmp_path / LOCK_NAME} is "
        f"invalid: AmiId {show_value(value)} is a CloudFormation dynamic reference: "
        "CloudFormation would resolve it at deploy, so the pin could change with no change to "
        "the lock file; "
        f"run `{COMMAND}` to re-pin it"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ImageBuildVersionArn", "{{resolve:ssm:/golden/build-arn}}"),
        ("ImageBuildVersionArn", "${Token[TOKEN.123]}"),
        ("ImageName", "${Token[Golden.Name.45]}"),
        ("OsVersion", "{{resolve:secretsmanager:os}}"),
        ("DateCreated", "#{Token[TOKEN.9]}"),
    ],
)
def test_dynamic_references_and_token_text_are_refused_in_any_value(
    tmp_path: Path, key: str, value: str
) -> None:
    line = refusal(tmp_path, **{key: value})
    assert f"invalid: {key} {show_value(value)} is " in line
    assert "dynamic reference" in line or "CDK token text" in line


@pytest.mark.parametrize(
    ("changed", "why"),
    [
        ({"ImageBuildVersionArn": "golden-1.4.0"}, "not an Image Builder build ARN"),
        (
            {"ImageBuildVersionArn": OTHER_IMAGE},
            "not a build of image 'golden'",
        ),
        (
            {"ImageBuildVersionArn": OTHER_PARTITION},
            f"not in partition aws, the partition of region {REGION}",
        ),
        (
            {"ImageBuildVersionArn": OTHER_REGION},
            f"not in region {REGION}, where the image lives",
        ),
        (
            {
                "ImageBuildVersionArn": f"{ARN.replace('1.4.0', '2.0.0')}/1",
                "ImageVersionArn": ARN.replace("1.4.0", "2.0.0"),
                "Version": "2.0.0",
                "BuildVersion": "2.0.0/1",
            },
            "not a version that selector '1.x.x' matches",
        ),
        ({"ImageVersionArn": ARN.replace("1.4.0", "1.3.0")}, "not the version ARN of build"),
        ({"Version": "1.3.0"}, "not the version of build"),
        ({"BuildVersion": "1.4.0/2"}, "not the build version of build"),
        ({"ImageName": "silver"}, "not the name of image 'golden'"),
        ({"AmiId": "ami-123"}, "not an AMI id (ami- and 8 or 17 hexadecimal digits)"),
        ({"AmiId": "i-0e8b4f5d6a7c8394a"}, "not an AMI id"),
        ({"AmiId": ""}, f"empty, but the lookup needs an AMI in region {REGION}"),
        ({"ContainerImageUri": "docker.io/library/nginx:latest"}, "not an ECR image URI"),
        ({"Platform": "Solaris"}, "not one of Windows, Linux, macOS"),
        ({"Platform": "Windows"}, "not the Platform 'Linux' the lookup asks for"),
        ({"ImageType": "VM"}, "not one of AMI, DOCKER"),
        ({"DateCreated": "yesterday"}, "not a date as the service reports it"),
        ({"OsVersion": "Amazon Linux 2023\nAmiId: ami-1"}, "not one line"),
    ],
)
def test_a_value_without_its_shape_is_refused(
    tmp_path: Path, changed: dict[str, str], why: str
) -> None:
    line = refusal(tmp_path, **changed)
    key, value = next(iter(changed.items()))
    assert f"invalid: {key} {show_value(value)} is {why}" in line


def test_a_container_uri_of_another_region_and_amazons_account_are_refused(
    tmp_path: Path,
) -> None:
    elsewhere = SERVICE_PIN["ContainerImageUri"].replace(REGION, "us-east-1")
    wrong_owner = BASE_PIN["ImageBuildVersionArn"].replace(":aws:image/", f":{ACCOUNT}:image/")
    write_lock(
        tmp_path,
        {
            "Prod/Service": (SERVICE_QUERY, {**SERVICE_PIN, "ContainerImageUri": elsewhere}),
            "Prod/Base": (BASE_QUERY, {**BASE_PIN, "ImageBuildVersionArn": wrong_owner}),
        },
    )
    stack = cdk.Stack(locked_app(tmp_path), "Prod", env=ENV)
    with pytest.raises(LockFileError, match=rf"ContainerImageUri .* is not in region {REGION},"):
        LatestImageBuild(stack, "Service", image_name="service", image_type="DOCKER")
    # Amazon's images' ARNs carry the account "aws" (botocore's ImageBuildVersionArn pattern)
    with pytest.raises(LockFileError, match=r"Prod/Base: .* is not a build of account 'aws'"):
        LatestImageBuild(stack, "Base", image_name="amazon-linux-2023-x86", owner=ImageOwner.AMAZON)


def test_values_a_deploy_would_pin_pass(tmp_path: Path) -> None:
    """The 8-digit AMI ids of older images, a listed name with spaces, another partition."""
    assert golden(tmp_path, AmiId="ami-0e8b4f5d").ami_id == "ami-0e8b4f5d"
    assert partition_of("cn-north-1") == ("aws-cn", "amazonaws.com.cn")
    assert partition_of("us-gov-west-1") == ("aws-us-gov", "amazonaws.com")
    assert partition_of("eu-west-1") == ("aws", "amazonaws.com")
    assert partition_of("zz-new-1") is None


def test_a_listed_name_pins_the_builds_of_its_arn_form(tmp_path: Path) -> None:
    query = {**BASE_QUERY, "ImageName": "Amazon Linux 2023 x86"}
    write_lock(tmp_path, {"Prod/Base": (query, {**BASE_PIN, "ImageName": "Amazon Linux 2023 x86"})})
    stack = cdk.Stack(locked_app(tmp_path), "Prod", env=ENV)
    base = LatestImageBuild(
        stack, "Base", image_name="Amazon Linux 2023 x86", owner=ImageOwner.AMAZON
    )
    assert base.image_build_version_arn == BASE_PIN["ImageBuildVersionArn"]


def test_a_tampered_query_is_refused_and_so_is_a_dynamic_reference_property(
    tmp_path: Path,
) -> None:
    query: dict[str, Any] = {**GOLDEN_QUERY, "RequireTags": {"stage": "{{resolve:ssm:/stage}}"}}
    write_lock(tmp_path, {"Prod/Golden": (query, GOLDEN_PIN)})
    stack = cdk.Stack(locked_app(tmp_path), "Prod", env=ENV)
    with pytest.raises(
        LockFileError, match=r"invalid: RequireTags\['stage'\] .* dynamic reference"
    ):
        LatestImageBuild(stack, "Golden", image_name="golden", version="1.x.x", platform="Linux")
    with pytest.raises(LockFileError) as error:
        LatestImageBuild(
            stack, "Tagged", image_name="golden", require_tags={"stage": "{{resolve:ssm:/stage}}"}
        )
    assert str(error.value) == (
        "LatestImageBuild Prod/Tagged: in lock mode every property must be a literal, but "
        "RequireTags holds a CloudFormation dynamic reference (resolved only at deploy)"
    )
