"""protect_pinned_build: tags on the build (local Image Builder) and its AMIs (moto's EC2).

Real boto3 talks to both: the local Image Builder checks every request against
botocore's model (TagResource is ``POST /tags/{resourceArn}``, UntagResource
``DELETE /tags/{resourceArn}?tagKeys=...``), and moto (server mode) implements
EC2's RegisterImage, CreateTags, DeleteTags and DescribeImages.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest

from image_lookup.deadline import Deadline
from image_lookup.errors import AccessDeniedError, InvalidInputError, ServiceError
from image_lookup.protection import (
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    PINNED_BY_PREFIX,
    PROTECTED_TAG_KEY,
    Pinner,
    marker_may_go,
    protection_requested,
)
from image_lookup.protection_runner import (
    protect,
    protect_for_event,
    release,
    release_for_event,
)
from image_lookup.retry import RetryPolicy
from local_endpoints.imagebuilder import ACCOUNT, FakeImageBuilder, FakeImageVersion
from tests.support.events import load_event

moto_services = pytest.importorskip("local_endpoints.moto_services")

FAST = RetryPolicy(connect_timeout=2.0, read_timeout=5.0, backoff_base=0.01, backoff_cap=0.05)
STACK_UUID = "1b2c3d40-0000-11ef-8000-0a1b2c3d4e5f"
STACK_A = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/GoldenDev/{STACK_UUID}"
STACK_B = f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/GoldenProd/{STACK_UUID}"
A = Pinner(STACK_A, "BaseImage")
B = Pinner(STACK_B, "BaseImage")
OTHER_ACCOUNT = "210987654321"
AMI_NUMBERS = itertools.count(1)


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    services = moto_services.MotoServices().start()
    yield services
    services.stop()


@pytest.fixture
def aws(fake: FakeImageBuilder, moto: Any, monkeypatch: pytest.MonkeyPatch) -> FakeImageBuilder:
    """The local Image Builder for Image Builder calls, moto for EC2's."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", moto.url)
    return fake


def register_ami(region: str, build_arn: str) -> str:
    """An AMI in moto's EC2 as Image Builder leaves it: tagged with the build's ARN.

    Image Builder tags every AMI it distributes ``Ec2ImageBuilderArn`` = build ARN (User
    Guide, "Tag Image Builder output resources"). moto's RegisterImage ignores
    TagSpecifications, so the tag is added with CreateTags.
    """
    ec2 = boto3.client("ec2", region_name=region)
    image_id = str(
        ec2.register_image(
            Name=f"golden-{next(AMI_NUMBERS)}",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
    )
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "Ec2ImageBuilderArn", "Value": build_arn}])
    return image_id


def ami_tags(region: str, image_id: str) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name=region)
    (image,) = ec2.describe_images(ImageIds=[image_id])["Images"]
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}


def build_tags(fake: FakeImageBuilder, image: FakeImageVersion) -> dict[str, str]:
    client = boto3.client("imagebuilder")
    answer = client.get_image(imageBuildVersionArn=image.build_arn(image.builds[0]))
    return dict(answer["image"]["tags"])


def ours(tags: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in tags.items() if key.startswith("latest-image-build:")}


def golden_build(fake: FakeImageBuilder) -> tuple[FakeImageVersion, str, dict[str, str]]:
    """A build distributed to us-east-1 and us-west-2 in this account, and shared to another
    account; it carries a tag of its own (stage=prod) that protection must leave alone."""
    image = fake.add("golden", "1.4.0")
    arn = image.build_arn(image.builds[0])
    amis = {
        "us-east-1": register_ami("us-east-1", arn),
        "us-west-2": register_ami("us-west-2", arn),
    }
    image.builds[0].amis = [
        {"region": region, "image": image_id, "accountId": ACCOUNT}
        for region, image_id in amis.items()
    ] + [{"region": "us-east-1", "image": "ami-0aaaaaaaaaaaaaaaa", "accountId": OTHER_ACCOUNT}]
    image.builds[0].tags = {"stage": "prod"}
    return image, arn, amis


def deadline() -> Deadline:
    return Deadline(budget_seconds=60.0, reserve_seconds=0.0)


def test_protect_tags_the_build_and_its_amis_in_each_region(aws: FakeImageBuilder) -> None:
    image, arn, amis = golden_build(aws)

    done = protect(arn, A, deadline(), retry_policy=FAST)

    expected = {PROTECTED_TAG_KEY: "true", A.tag_key: "us-east-1/GoldenDev/BaseImage"}
    assert build_tags(aws, image) == {"stage": "prod", **expected}
    for region, image_id in amis.items():
        assert ours(ami_tags(region, image_id)) == expected
        assert ami_tags(region, image_id)["Ec2ImageBuilderArn"] == arn
    # the copy shared to another account is that account's: not tagged, not even tried
    assert done["amis"] == {region: [image_id] for region, image_id in amis.items()}
    assert "amis_gone" not in done


def test_a_build_pinned_by_two_stacks_stays_protected_until_the_last_lets_go(
    aws: FakeImageBuilder,
) -> None:
    image, arn, amis = golden_build(aws)
    protect(arn, A, deadline(), retry_policy=FAST)
    protect(arn, B, deadline(), retry_policy=FAST)

    first = release(arn, A, deadline(), retry_policy=FAST)

    assert first["marker"] == "kept"
    assert set(ours(build_tags(aws, image))) == {PROTECTED_TAG_KEY, B.tag_key}
    for region, image_id in amis.items():
        assert set(ours(ami_tags(region, image_id))) == {PROTECTED_TAG_KEY, B.tag_key}

    last = release(arn, B, deadline(), retry_policy=FAST)

    assert last["marker"] == "removed"
    assert build_tags(aws, image) == {"stage": "prod"}
    for region, image_id in amis.items():
        assert ami_tags(region, image_id) == {"Ec2ImageBuilderArn": arn}


def test_two_lookups_in_one_stack_pin_separately(aws: FakeImageBuilder) -> None:
    image, arn, _ = golden_build(aws)
    other_lookup = Pinner(STACK_A, "ServiceImage")
    protect(arn, A, deadline(), retry_policy=FAST)
    protect(arn, other_lookup, deadline(), retry_policy=FAST)

    release(arn, A, deadline(), retry_policy=FAST)

    assert set(ours(build_tags(aws, image))) == {PROTECTED_TAG_KEY, other_lookup.tag_key}


def test_a_stack_pinning_during_a_release_keeps_the_marker(aws: FakeImageBuilder) -> None:
    """B protects the build right after A's release took the marker off (the release's second
    UntagResource); A's release reads the tags again and puts the marker back."""
    image, arn, amis = golden_build(aws)
    protect(arn, A, deadline(), retry_policy=FAST)
    aws.inject("UntagResource", lambda _params: None)  # A's own pinned-by tag: let it through

    def b_pins_meanwhile(_params: dict[str, Any]) -> None:
        protect(arn, B, deadline(), retry_policy=FAST)
        return None  # then A's UntagResource of the marker goes through

    aws.inject("UntagResource", b_pins_meanwhile)

    done = release(arn, A, deadline(), retry_policy=FAST)

    assert done["marker"] == "restored"
    assert set(ours(build_tags(aws, image))) == {PROTECTED_TAG_KEY, B.tag_key}
    for region, image_id in amis.items():
        assert set(ours(ami_tags(region, image_id))) == {PROTECTED_TAG_KEY, B.tag_key}


def test_a_moved_pin_keeps_the_old_builds_tags_until_cleanup(aws: FakeImageBuilder) -> None:
    """CloudFormation's custom resource lifecycle: an Update that returns a new physical id
    (B2) is followed, once the whole update succeeded, by a Delete of the old one (B1)
    (User Guide, custom resource request types: Update, "a replacement"; Delete)."""
    old, old_arn, _ = golden_build(aws)
    new = aws.add("golden", "1.5.0")
    new_arn = new.build_arn(new.builds[0])
    event = load_event("update")
    protect_for_event(event, old_arn, deadline())  # Create pinned B1

    done = protect_for_event(event, new_arn, deadline())  # Update pins B2

    # B2's AMI id was never registered in moto: nothing to protect there, and no failure
    assert done is not None and list(done["amis_gone"]) == ["us-east-1"]

    assert PROTECTED_TAG_KEY in build_tags(aws, old)  # the rollback target stays protected
    assert PROTECTED_TAG_KEY in build_tags(aws, new)

    release_for_event(load_event("delete"), old_arn, deadline())  # cleanup of B1

    assert build_tags(aws, old) == {"stage": "prod"}
    assert set(ours(build_tags(aws, new))) == {PROTECTED_TAG_KEY, Pinner.from_event(event).tag_key}


def test_an_event_without_stack_or_logical_id_never_fails_a_release(aws: FakeImageBuilder) -> None:
    event = {k: v for k, v in load_event("delete").items() if k != "StackId"}

    assert (
        release_for_event(
            event, "arn:aws:imagebuilder:us-east-1:123456789012:image/g/1.0.0/1", deadline()
        )
        is None
    )
    assert aws.count() == 0
    with pytest.raises(InvalidInputError):
        protect_for_event(
            event, "arn:aws:imagebuilder:us-east-1:123456789012:image/g/1.0.0/1", deadline()
        )


def test_release_of_a_deleted_build_untags_its_amis_and_succeeds(aws: FakeImageBuilder) -> None:
    """DeleteImage "does not delete any EC2 AMIs" (Image Builder API reference): the AMIs in
    the build's region are found by their Ec2ImageBuilderArn tag and untagged."""
    image, arn, amis = golden_build(aws)
    protect(arn, A, deadline(), retry_policy=FAST)
    aws.images.remove(image)

    done = release(arn, A, deadline(), retry_policy=FAST)

    assert done["outcome"] == "build gone"
    assert ami_tags("us-east-1", amis["us-east-1"]) == {"Ec2ImageBuilderArn": arn}
    # other regions are known only from the build, which is gone: left as they were
    assert PROTECTED_TAG_KEY in ami_tags("us-west-2", amis["us-west-2"])


def test_release_of_what_was_never_tagged_or_never_existed_succeeds(aws: FakeImageBuilder) -> None:
    image, arn, amis = golden_build(aws)

    assert release(arn, A, deadline(), retry_policy=FAST)["outcome"] == "released"
    assert release(arn, A, deadline(), retry_policy=FAST)["outcome"] == "released"
    assert build_tags(aws, image) == {"stage": "prod"}
    assert ami_tags("us-east-1", amis["us-east-1"]) == {"Ec2ImageBuilderArn": arn}
    missing = arn.replace("/1.4.0/1", "/9.9.9/1")
    assert release(missing, A, deadline(), retry_policy=FAST)["outcome"] == "build gone"


def test_release_never_raises(aws: FakeImageBuilder) -> None:
    _, arn, _ = golden_build(aws)
    protect(arn, A, deadline(), retry_policy=FAST)
    aws.fail_next("UntagResource", 1, "AccessDeniedException", 403)

    done = release(arn, A, deadline(), retry_policy=FAST)

    assert done["outcome"] == "release failed"
    assert "imagebuilder:UntagResource" in done["reason"]


def test_a_tag_failure_fails_protect_with_one_line(aws: FakeImageBuilder) -> None:
    _, arn, _ = golden_build(aws)
    aws.fail_next("TagResource", 1, "AccessDeniedException", 403)

    with pytest.raises(AccessDeniedError) as raised:
        protect(arn, A, deadline(), retry_policy=FAST)

    assert "\n" not in str(raised.value)
    assert "imagebuilder:TagResource" in str(raised.value)


def test_a_best_effort_protect_logs_a_failure_and_returns(aws: FakeImageBuilder) -> None:
    """A rollback never fails because of the lookup: its protect is best effort."""
    image, arn, _ = golden_build(aws)
    aws.fail_next("TagResource", 1, "AccessDeniedException", 403)

    done = protect(arn, A, deadline(), best_effort=True, retry_policy=FAST)

    assert done["outcome"] == "failed" and "imagebuilder:TagResource" in done["reason"]
    assert build_tags(aws, image) == {"stage": "prod"}


def test_protect_of_a_build_gone_fails_with_one_line(aws: FakeImageBuilder) -> None:
    image, arn, _ = golden_build(aws)
    aws.images.remove(image)

    with pytest.raises(ServiceError, match="no longer has it"):
        protect(arn, A, deadline(), retry_policy=FAST)


def test_protect_refuses_another_accounts_build_before_any_call(aws: FakeImageBuilder) -> None:
    image = aws.add("Amazon Linux 2023 x86", "2026.11.15", owner="Amazon")

    with pytest.raises(InvalidInputError, match=r"only its owner can tag it"):
        protect(image.build_arn(image.builds[0]), A, deadline(), retry_policy=FAST)
    assert aws.count() == 0


def test_tag_keys_and_values_fit_both_services() -> None:
    """Image Builder's TagKey (botocore model: 1-128, ``^(?!aws:)[a-zA-Z0-9\\s_.:/=+\\-@]*$``,
    values up to 256), which EC2's limits (128 / 256, no ``aws:``) also admit; the longest
    stack name (128) and logical id (255) CloudFormation allows included."""
    model = botocore.session.get_session().get_service_model("imagebuilder")
    key_shape = model.shape_for("TagKey")
    pattern = re.compile(key_shape.metadata["pattern"])
    longest = Pinner(
        f"arn:aws-us-gov:cloudformation:us-gov-west-1:{ACCOUNT}:stack/{'S' * 128}/{STACK_UUID}",
        "L" * 255,
    )
    for pinner in (A, B, longest):
        for key, value in pinner.tags().items():
            assert 1 <= len(key) <= min(MAX_TAG_KEY_LENGTH, key_shape.metadata["max"])
            assert pattern.match(key)
            assert len(value) <= MAX_TAG_VALUE_LENGTH
            assert re.fullmatch(r"[A-Za-z0-9+\-=._:/@]+", value)
    assert longest.tag_value.startswith("us-gov-west-1/SSS")
    assert A.tag_key.startswith(PINNED_BY_PREFIX) and A.tag_key != B.tag_key
    assert Pinner(STACK_A, "BaseImage").tag_key == A.tag_key  # the same on every deploy


def test_the_marker_goes_only_with_the_last_pinned_by_tag() -> None:
    tags = {PROTECTED_TAG_KEY: "true", A.tag_key: "a", "stage": "prod"}
    assert marker_may_go(tags, A.tag_key)
    assert not marker_may_go({**tags, B.tag_key: "b"}, A.tag_key)


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"ProtectPinnedBuild": "true"}, True),
        ({"ProtectPinnedBuild": "TRUE"}, True),
        ({"ProtectPinnedBuild": "false"}, False),
        ({"ProtectPinnedBuild": True}, False),  # CloudFormation delivers strings only
        ({}, False),
        (None, False),
    ],
)
def test_protection_requested_reads_only_its_flag(properties: object, expected: bool) -> None:
    assert protection_requested(properties) is expected


@pytest.mark.parametrize(
    "event",
    [{}, {"StackId": STACK_A}, {"StackId": "not-an-arn", "LogicalResourceId": "Base"}],
)
def test_a_pinner_needs_the_stack_and_the_logical_id(event: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError, match="cannot tell which stack pins the build"):
        Pinner.from_event(event)


def test_the_handler_protects_on_deploy_and_releases_on_cleanup_and_delete(
    aws: FakeImageBuilder,
) -> None:
    """Through ``on_event``, in CloudFormation's order: Create pins B1; an Update moves the pin
    to B2 (B1 keeps its tags: it is the rollback target); the cleanup Delete of B1's physical
    id, then the stack's Delete of B2, each let go (User Guide, custom resource request
    types). A Delete carries the resource's properties, so it knows protection was on."""
    from image_lookup.handler import on_event
    from local_endpoints.imagebuilder import FakeBuild
    from tests.support.lambda_context import FakeLambdaContext

    image, b1, amis = golden_build(aws)
    protected = {"ImageName": "golden", "ProtectPinnedBuild": "true"}

    created = on_event(load_event("create", **protected), FakeLambdaContext())
    assert created["PhysicalResourceId"] == b1
    assert PROTECTED_TAG_KEY in build_tags(aws, image)
    assert PROTECTED_TAG_KEY in ami_tags("us-west-2", amis["us-west-2"])

    image.builds.append(FakeBuild(2))
    update = load_event("update", **protected)
    update.update(PhysicalResourceId=b1, OldResourceProperties=dict(protected))
    updated = on_event(update, FakeLambdaContext())
    b2 = image.build_arn(image.builds[1])
    assert updated["PhysicalResourceId"] == b2
    assert PROTECTED_TAG_KEY in build_tags(aws, image)  # B1 until the cleanup

    cleanup = load_event("delete", **protected)
    cleanup["PhysicalResourceId"] = b1
    on_event(cleanup, FakeLambdaContext())
    assert build_tags(aws, image) == {"stage": "prod"}
    assert ours(ami_tags("us-west-2", amis["us-west-2"])) == {}

    client = boto3.client("imagebuilder")
    b2_tags = client.get_image(imageBuildVersionArn=b2)["image"]["tags"]
    assert PROTECTED_TAG_KEY in b2_tags

    delete = load_event("delete", **protected)
    delete["PhysicalResourceId"] = b2
    on_event(delete, FakeLambdaContext())
    assert ours(dict(client.get_image(imageBuildVersionArn=b2)["image"]["tags"])) == {}


def test_switching_protection_off_lets_the_pin_go_at_once(aws: FakeImageBuilder) -> None:
    from image_lookup.handler import on_event
    from tests.support.lambda_context import FakeLambdaContext

    image, b1, _ = golden_build(aws)
    on_event(
        load_event("create", ImageName="golden", ProtectPinnedBuild="true"), FakeLambdaContext()
    )
    assert PROTECTED_TAG_KEY in build_tags(aws, image)
    update = load_event("update", ImageName="golden", ProtectPinnedBuild=None)
    update.update(
        PhysicalResourceId=b1,
        OldResourceProperties={"ImageName": "golden", "ProtectPinnedBuild": "true"},
    )
    # the pin does not move, so no cleanup Delete would ever release it
    assert on_event(update, FakeLambdaContext())["PhysicalResourceId"] == b1
    assert build_tags(aws, image) == {"stage": "prod"}
