"""protect_pinned_build: lookups report pins; the image owner's registry keeps one marker tag.

Everything runs on real boto3 against real implementations: moto in server mode for
DynamoDB (the holders table, created from the synthesized ``ImageFactory`` template),
EventBridge and SQS (the reports' path) and EC2 (the AMIs), and the local Image
Builder for the builds (TagResource is ``POST /tags/{resourceArn}``, UntagResource
``DELETE /tags/{resourceArn}?tagKeys=...``, checked against botocore's model).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest

from image_lookup.deadline import Deadline
from image_lookup.errors import AccessDeniedError, ImageLookupError, InvalidInputError
from image_lookup.pins import (
    PIN_EVENT_SOURCE,
    REGISTRY_NAME,
    Holder,
    parse_pin_event,
    pin_event_entry,
    registry_bus_arn,
)
from image_lookup.protection import PROTECTED_TAG_KEY, legacy_tag_key, protection_requested
from image_lookup.retry import RetryPolicy
from local_endpoints.imagebuilder import ACCOUNT, FakeBuild, FakeImageBuilder, FakeImageVersion
from tests.support import registry as registry_support
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.registry import WHOLE_EVENT

moto_services = pytest.importorskip("local_endpoints.moto_services")
from pin_registry import handler as registry_handler  # noqa: E402
from pin_registry.marker import BuildMarker  # noqa: E402
from pin_registry.registry import Registry  # noqa: E402
from pin_registry.store_api import PinStore  # noqa: E402

FAST = RetryPolicy(connect_timeout=2.0, read_timeout=5.0, backoff_base=0.01, backoff_cap=0.05)
REGION = "us-east-1"
STACK_UUID = "1b2c3d40-0000-11ef-8000-0a1b2c3d4e5f"
STACK_A = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/GoldenDev/{STACK_UUID}"
STACK_B = f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/GoldenProd/{STACK_UUID}"
A = Holder(STACK_A, "BaseImage")
B = Holder(STACK_B, "BaseImage")
OTHER_ACCOUNT = "210987654321"
AMI_NUMBERS = itertools.count(1)
DAY = 24 * 3600


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    services = moto_services.MotoServices().start()
    yield services
    services.stop()


@pytest.fixture(scope="module")
def factory_template() -> dict[str, Any]:
    """The ImageFactory as synthesized: its table and its report rule are what the tests use."""
    return registry_support.factory_template()


@pytest.fixture
def aws(
    fake: FakeImageBuilder,
    moto: Any,
    factory_template: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> FakeImageBuilder:
    """Local Image Builder for builds; moto (fresh) for EC2, DynamoDB, EventBridge and SQS;
    the registry's table made from the synthesized template."""
    moto.reset()
    for service in ("EC2", "DYNAMODB", "EVENTBRIDGE", "SQS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto.url)
    monkeypatch.setenv(registry_handler.TABLE_ENV, REGISTRY_NAME)
    registry_support.create_registry_table(REGION)
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


def build_tags(build_arn: str) -> dict[str, str]:
    answer = boto3.client("imagebuilder").get_image(imageBuildVersionArn=build_arn)
    return dict(answer["image"]["tags"])


def ours(tags: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in tags.items() if key.startswith("latest-image-build:")}


def golden_build(fake: FakeImageBuilder) -> tuple[FakeImageVersion, str, dict[str, str]]:
    """A build distributed to us-east-1 and us-west-2 in this account, and shared to another
    account; it carries a tag of its own (stage=prod) that protection must leave alone."""
    image = fake.add("golden", "1.4.0")
    arn = image.build_arn(image.builds[0])
    amis = {region: register_ami(region, arn) for region in ("us-east-1", "us-west-2")}
    image.builds[0].amis = [
        {"region": region, "image": image_id, "accountId": ACCOUNT}
        for region, image_id in amis.items()
    ] + [{"region": "us-east-1", "image": "ami-0aaaaaaaaaaaaaaaa", "accountId": OTHER_ACCOUNT}]
    image.builds[0].tags = {"stage": "prod"}
    return image, arn, amis


def deadline(seconds: float = 60.0) -> Deadline:
    return Deadline(budget_seconds=seconds, reserve_seconds=0.0)


class Clock:
    """The registry's clock, moved by the test (leases are days long)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def registry(clock: Clock | None = None, seconds: float = 60.0) -> Registry:
    """A registry as one invocation of its function makes it (one deadline)."""
    return Registry(
        PinStore.for_table(REGISTRY_NAME, REGION, deadline(seconds), FAST),
        BuildMarker(ACCOUNT, deadline(seconds), FAST),
        lease_seconds=3 * DAY,
        clock=clock or Clock(),
    )


def holders_in_table() -> list[dict[str, Any]]:
    return list(boto3.client("dynamodb", region_name=REGION).scan(TableName=REGISTRY_NAME)["Items"])


# ----- the registry ---------------------------------------------------------------------


def test_acquire_marks_the_build_and_its_own_amis_once(aws: FakeImageBuilder) -> None:
    _, arn, amis = golden_build(aws)

    assert registry().acquire(A.pin(arn)) == "acquired"

    assert build_tags(arn) == {"stage": "prod", PROTECTED_TAG_KEY: "true"}
    for region, image_id in amis.items():
        assert ours(ami_tags(region, image_id)) == {PROTECTED_TAG_KEY: "true"}
        assert ami_tags(region, image_id)["Ec2ImageBuilderArn"] == arn
    (item,) = holders_in_table()
    assert item["StackName"]["S"] == "GoldenDev" and item["LogicalId"]["S"] == "BaseImage"
    assert item["Account"]["S"] == ACCOUNT and item["Region"]["S"] == "us-east-1"


def test_500_stacks_pinning_one_build_leave_one_tag_and_the_last_release_removes_it(
    aws: FakeImageBuilder,
) -> None:
    """Issue "Hold under pressure" §2: a resource holds at most 50 tags (botocore's
    imagebuilder TagMap, max 50; EC2 User Guide, "Tag restrictions"), so the number of
    tags must not grow with the number of pinning stacks."""
    _, arn, amis = golden_build(aws)
    stacks = [
        Holder(f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/Service{n}/{STACK_UUID}", "Base")
        for n in range(500)
    ]
    keeper = registry(seconds=3600.0)  # here one registry serves 1,000 reports
    for holder in stacks:
        keeper.acquire(holder.pin(arn))

    assert len(holders_in_table()) == 500
    assert ours(build_tags(arn)) == {PROTECTED_TAG_KEY: "true"}
    assert ours(ami_tags("us-west-2", amis["us-west-2"])) == {PROTECTED_TAG_KEY: "true"}

    for holder in stacks[:-1]:
        assert keeper.release(holder.pin(arn)) == "kept: held"
    assert ours(build_tags(arn)) == {PROTECTED_TAG_KEY: "true"}
    assert keeper.release(stacks[-1].pin(arn)) == "unmarked"
    assert build_tags(arn) == {"stage": "prod"}
    assert ours(ami_tags("us-east-1", amis["us-east-1"])) == {}
    assert holders_in_table() == []


def test_a_failed_ami_tag_leaves_no_holder_and_no_marker(
    aws: FakeImageBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EC2's CreateTags fails after the build was marked: the acquire fails and takes back
    what it did. The failure is moto's own answer: its EC2 backend (in this process, behind
    its server) is made to refuse CreateTags as IAM would (UnauthorizedOperation, EC2 API
    reference, "Common client error codes")."""
    from moto.ec2.exceptions import EC2ClientError

    _, arn, amis = golden_build(aws)
    ec2_backend = moto_services.MotoServices.backend("ec2", ACCOUNT, "us-west-2")

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise EC2ClientError("UnauthorizedOperation", "You are not authorized")

    monkeypatch.setattr(ec2_backend, "create_tags", refuse)
    with pytest.raises(AccessDeniedError, match="ec2:CreateTags"):
        registry().acquire(A.pin(arn))

    assert holders_in_table() == []
    assert build_tags(arn) == {"stage": "prod"}
    assert ours(ami_tags("us-east-1", amis["us-east-1"])) == {}


def test_a_failed_acquire_keeps_the_marker_another_stack_holds(
    aws: FakeImageBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.ec2.exceptions import EC2ClientError

    _, arn, _ = golden_build(aws)
    keeper = registry()
    keeper.acquire(A.pin(arn))
    ec2_backend = moto_services.MotoServices.backend("ec2", ACCOUNT, "us-west-2")

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise EC2ClientError("UnauthorizedOperation", "You are not authorized")

    monkeypatch.setattr(ec2_backend, "create_tags", refuse)
    with pytest.raises(ImageLookupError):
        keeper.acquire(B.pin(arn))
    assert [item["Holder"]["S"] for item in holders_in_table()] == [A.key]
    assert ours(build_tags(arn)) == {PROTECTED_TAG_KEY: "true"}


def test_a_lease_nobody_renews_ends_and_the_sweep_unmarks_the_build(
    aws: FakeImageBuilder,
) -> None:
    """A stack whose account is closed never sends its release: its lease runs out."""
    _, arn, amis = golden_build(aws)
    clock = Clock()
    keeper = registry(clock)
    keeper.acquire(A.pin(arn))
    keeper.acquire(B.pin(arn))

    clock.now += 2 * DAY
    keeper.acquire(B.pin(arn))  # B's stack renews; A's account is gone
    clock.now += 1.5 * DAY
    swept = keeper.sweep()
    assert swept["expired_holders"] == 1 and swept["builds"] == {arn: "kept: held"}
    assert ours(build_tags(arn)) == {PROTECTED_TAG_KEY: "true"}

    clock.now += 2 * DAY
    assert keeper.sweep()["builds"] == {arn: "unmarked"}
    assert build_tags(arn) == {"stage": "prod"}
    assert ours(ami_tags("us-west-2", amis["us-west-2"])) == {}


def test_an_ended_lease_counts_for_nothing_before_the_sweep(aws: FakeImageBuilder) -> None:
    _, arn, _ = golden_build(aws)
    clock = Clock()
    keeper = registry(clock)
    keeper.acquire(A.pin(arn))
    keeper.acquire(B.pin(arn))
    clock.now += 4 * DAY
    keeper.acquire(B.pin(arn))
    assert keeper.release(B.pin(arn)) == "unmarked"  # A's ended lease does not keep it


def test_a_registry_keeps_only_its_own_accounts_builds(aws: FakeImageBuilder) -> None:
    arn = f"arn:aws:imagebuilder:us-east-1:{OTHER_ACCOUNT}:image/golden/1.0.0/1"
    report = parse_pin_event(delivered(pin_event_entry("acquire", STACK_A, [A.pin(arn)], "bus")))
    assert registry().handle(report) == {f"BaseImage {arn}": "not this registry's build"}
    assert holders_in_table() == []


def test_a_release_of_a_deleted_build_untags_its_amis(aws: FakeImageBuilder) -> None:
    image, arn, amis = golden_build(aws)
    keeper = registry()
    keeper.acquire(A.pin(arn))
    aws.images.remove(image)

    assert keeper.release(A.pin(arn)) == f"build gone; unmarked AMIs {[amis['us-east-1']]}"
    assert ours(ami_tags("us-east-1", amis["us-east-1"])) == {}


def test_the_first_report_of_a_030_lookup_replaces_its_pinned_by_tag(
    aws: FakeImageBuilder,
) -> None:
    """0.3.0 wrote one ``pinned-by`` tag per lookup; another 0.3.0 lookup's tag still keeps
    the marker until that lookup reports too."""
    image, arn, amis = golden_build(aws)
    legacy = {legacy_tag_key(A): "a", legacy_tag_key(B): "b", PROTECTED_TAG_KEY: "true"}
    image.builds[0].tags.update(legacy)
    boto3.client("ec2", region_name="us-west-2").create_tags(
        Resources=[amis["us-west-2"]], Tags=[{"Key": k, "Value": v} for k, v in legacy.items()]
    )
    keeper = registry()
    keeper.acquire(A.pin(arn))
    assert set(ours(build_tags(arn))) == {PROTECTED_TAG_KEY, legacy_tag_key(B)}
    assert set(ours(ami_tags("us-west-2", amis["us-west-2"]))) == {
        PROTECTED_TAG_KEY,
        legacy_tag_key(B),
    }
    assert keeper.release(A.pin(arn)) == "kept: 1 0.3.0 holders"
    assert keeper.release(B.pin(arn)) == "unmarked"
    assert build_tags(arn) == {"stage": "prod"}


# ----- the lookup's reports, through EventBridge, to the registry -------------------------


def delivered(entry: dict[str, Any], account: str = ACCOUNT) -> dict[str, Any]:
    """A PutEvents entry as EventBridge delivers it to a target (EventBridge User Guide,
    "Amazon EventBridge events": ``account`` is the sender's, set by EventBridge)."""
    return {
        "version": "0",
        "id": "6f6d3c0e-0000-4000-8000-000000000001",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": account,
        "time": "2026-12-06T12:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": json.loads(entry["Detail"]),
    }


def capture_reports(factory_template: dict[str, Any]) -> str:
    """The registry's bus in moto, with the synthesized rule's pattern sending to a queue."""
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name=REGISTRY_NAME)
    rule = registry_support.reports_rule(factory_template)
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="reports")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="reports", EventBusName=REGISTRY_NAME, EventPattern=json.dumps(rule["EventPattern"])
    )
    events.put_targets(
        Rule="reports",
        EventBusName=REGISTRY_NAME,
        Targets=[{"Id": "q", "Arn": queue_arn, "InputTransformer": WHOLE_EVENT}],
    )
    return str(queue_url)


def received(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in messages]


def run_registry(event: dict[str, Any]) -> dict[str, Any]:
    return registry_handler.on_event(event, FakeLambdaContext())


def test_deploy_update_cleanup_and_delete_reach_the_registry_in_cloudformations_order(
    aws: FakeImageBuilder, factory_template: dict[str, Any]
) -> None:
    """Through both handlers and moto's EventBridge: Create pins B1; an Update moves the pin
    to B2 (B1 stays held: it is the rollback target); the cleanup Delete of B1's physical
    id, then the stack's Delete of B2, each let go (CloudFormation User Guide, custom
    resource request types). A Delete carries the resource's properties."""
    from image_lookup.handler import on_event

    queue = capture_reports(factory_template)
    image, b1, _ = golden_build(aws)
    protected = {"ImageName": "golden", "ProtectPinnedBuild": "true"}

    assert (
        on_event(load_event("create", **protected), FakeLambdaContext())["PhysicalResourceId"] == b1
    )
    (report,) = received(queue)
    assert report["account"] == ACCOUNT and report["source"] == PIN_EVENT_SOURCE
    assert report["detail"]["action"] == "acquire"
    assert run_registry(report)["pins"] == {f"BaseImage {b1}": "acquired"}
    assert ours(build_tags(b1)) == {PROTECTED_TAG_KEY: "true"}

    image.builds.append(FakeBuild(2))
    b2 = image.build_arn(image.builds[1])
    update = load_event("update", **protected)
    update.update(PhysicalResourceId=b1, OldResourceProperties=dict(protected))
    assert on_event(update, FakeLambdaContext())["PhysicalResourceId"] == b2
    for event in received(queue):
        run_registry(event)
    assert PROTECTED_TAG_KEY in build_tags(b1) and PROTECTED_TAG_KEY in build_tags(b2)

    cleanup = load_event("delete", **protected)
    cleanup["PhysicalResourceId"] = b1
    on_event(cleanup, FakeLambdaContext())
    (release,) = received(queue)
    assert release["detail"]["action"] == "release"
    run_registry(release)
    assert build_tags(b1) == {"stage": "prod"} and PROTECTED_TAG_KEY in build_tags(b2)

    delete = load_event("delete", **protected)
    delete["PhysicalResourceId"] = b2
    on_event(delete, FakeLambdaContext())
    for event in received(queue):
        run_registry(event)
    assert ours(build_tags(b2)) == {} and holders_in_table() == []


def test_switching_protection_off_releases_the_pin_at_once(
    aws: FakeImageBuilder, factory_template: dict[str, Any]
) -> None:
    from image_lookup.handler import on_event

    queue = capture_reports(factory_template)
    _, b1, _ = golden_build(aws)
    on_event(
        load_event("create", ImageName="golden", ProtectPinnedBuild="true"), FakeLambdaContext()
    )
    update = load_event("update", ImageName="golden", ProtectPinnedBuild=None)
    update.update(
        PhysicalResourceId=b1,
        OldResourceProperties={"ImageName": "golden", "ProtectPinnedBuild": "true"},
    )
    # the pin does not move, so no cleanup Delete would ever release it
    assert on_event(update, FakeLambdaContext())["PhysicalResourceId"] == b1
    assert [event["detail"]["action"] for event in received(queue)] == ["acquire", "release"]


def test_a_protected_deploy_without_a_registry_fails_in_one_line(aws: FakeImageBuilder) -> None:
    """No bus: EventBridge answers ResourceNotFoundException (API reference, PutEvents)."""
    from image_lookup.handler import on_event

    golden_build(aws)
    with pytest.raises(ImageLookupError) as failure:
        on_event(
            load_event("create", ImageName="golden", ProtectPinnedBuild="true"),
            FakeLambdaContext(),
        )
    reason = str(failure.value)
    assert "\n" not in reason
    assert f"no pin registry at arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{REGISTRY_NAME}" in (
        reason
    )
    assert "ImageFactory" in reason


def test_a_delete_without_a_registry_still_succeeds(aws: FakeImageBuilder) -> None:
    from image_lookup.handler import on_event

    _, b1, _ = golden_build(aws)
    delete = load_event("delete", ImageName="golden", ProtectPinnedBuild="true")
    delete["PhysicalResourceId"] = b1
    assert on_event(delete, FakeLambdaContext()) == {"PhysicalResourceId": b1}


def test_the_daily_renewal_reports_what_the_stack_pins_now(
    aws: FakeImageBuilder, factory_template: dict[str, Any], moto: Any
) -> None:
    """The renewal rule's input names the protected lookups; their builds are their physical
    ids, read with ListStackResources. moto cannot run the custom resource's Lambda (no
    Docker), so the stack's resources are set in moto's CloudFormation backend."""
    from image_lookup.handler import on_event

    queue = capture_reports(factory_template)
    _, b1, _ = golden_build(aws)
    stack_id = deployed_stack(moto, {"BaseImage": b1, "Unprotected": b1})
    renewal = {"latest-image-build": "renew-pins", "stackId": stack_id, "lookups": ["BaseImage"]}

    assert on_event(renewal, FakeLambdaContext())["pins"] == 1
    (report,) = received(queue)
    assert report["detail"] == {
        "action": "renew",
        "stackId": stack_id,
        "pins": [{"logicalId": "BaseImage", "build": b1}],
    }
    assert run_registry(report)["pins"] == {f"BaseImage {b1}": "acquired"}


def deployed_stack(moto: Any, lookups: dict[str, str]) -> str:
    """A stack in moto's CloudFormation whose lookups pin the given builds."""
    cloudformation = boto3.client("cloudformation", region_name=REGION, endpoint_url=moto.url)
    template = {
        "Resources": {name: {"Type": "AWS::SQS::Queue", "Properties": {}} for name in lookups}
    }
    stack_id = cloudformation.create_stack(
        StackName="GoldenDev", TemplateBody=json.dumps(template)
    )["StackId"]
    stack = moto_services.MotoServices.backend("cloudformation").stacks[stack_id]
    for name, build in lookups.items():
        # moto reads a resource's physical id and type from these attributes
        stack.resource_map._parsed_resources[name] = _Lookup(name, build)
    return str(stack_id)


class _Lookup:
    """A ``Custom::LatestImageBuild`` resource as moto's ListStackResources reports it."""

    cf_resource_type = "Custom::LatestImageBuild"

    def __init__(self, logical_id: str, build: str) -> None:
        self.logical_resource_id = logical_id
        self.physical_resource_id = build


# ----- the pure rules --------------------------------------------------------------------


def test_a_report_from_another_account_about_this_accounts_stack_is_refused() -> None:
    arn = f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image/golden/1.0.0/1"
    entry = pin_event_entry("release", STACK_A, [A.pin(arn)], "bus")
    with pytest.raises(InvalidInputError, match="which is another account's"):
        parse_pin_event(delivered(entry, account=OTHER_ACCOUNT))


def test_the_registry_handler_drops_a_spoofed_report_without_a_retry(aws: FakeImageBuilder) -> None:
    _, arn, _ = golden_build(aws)
    entry = pin_event_entry("acquire", STACK_A, [A.pin(arn)], "bus")
    assert run_registry(delivered(entry, account=OTHER_ACCOUNT))["outcome"] == "refused"
    assert holders_in_table() == [] and ours(build_tags(arn)) == {}


def test_a_report_entry_matches_eventbridges_putevents_model() -> None:
    """botocore's events model: PutEventsRequestEntry members, and at most 256 KB."""
    model = botocore.session.get_session().get_service_model("events")
    members = model.shape_for("PutEventsRequestEntry").members  # type: ignore[attr-defined]
    pins = [
        Holder(STACK_A, f"Lookup{n}").pin(
            f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image/golden/1.0.{n}/1"
        )
        for n in range(500)
    ]
    entry = pin_event_entry("renew", STACK_A, pins, registry_bus_arn(pins[0].build_arn))
    assert set(entry) <= set(members)
    assert len(json.dumps(entry).encode()) < 256 * 1024


@pytest.mark.parametrize(
    ("build", "message"),
    [
        ("arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2023/1.0.0/1", "belongs to 'aws'"),
        ("not-an-arn", "not an Image Builder build ARN"),
    ],
)
def test_only_an_accounts_own_build_has_a_registry(build: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        registry_bus_arn(build)


def test_the_registry_is_in_the_builds_account_and_region() -> None:
    build = f"arn:aws-cn:imagebuilder:cn-north-1:{OTHER_ACCOUNT}:image/golden/1.0.0/1"
    assert registry_bus_arn(build) == (
        f"arn:aws-cn:events:cn-north-1:{OTHER_ACCOUNT}:event-bus/latest-image-build-pins"
    )


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
def test_a_holder_needs_the_stack_and_the_logical_id(event: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError, match="cannot tell which stack pins the build"):
        Holder.from_event(event)


def test_a_registry_that_keeps_this_account_out_fails_the_deploy_naming_both_sides(
    aws: FakeImageBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bus policy that does not admit the sender: EventBridge answers AccessDeniedException
    (PutEvents API reference, Errors; "Permissions for Amazon EventBridge event buses").
    moto does not evaluate bus policies, so its events backend is made to answer so."""
    from moto.core.exceptions import JsonRESTError

    from image_lookup.handler import on_event

    golden_build(aws)
    boto3.client("events", region_name=REGION).create_event_bus(Name=REGISTRY_NAME)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise JsonRESTError("AccessDeniedException", "not authorized to perform events:PutEvents")

    events_backend = moto_services.MotoServices.backend("events", ACCOUNT, REGION)
    monkeypatch.setattr(events_backend, "put_events", refuse)
    with pytest.raises(AccessDeniedError) as failure:
        on_event(
            load_event("create", ImageName="golden", ProtectPinnedBuild="true"),
            FakeLambdaContext(),
        )
    assert "grant events:PutEvents to the lookup function's role" in str(failure.value)
    assert "does not let this account in (ImageFactory organization_id)" in str(failure.value)


def test_a_throttled_table_is_retried_and_the_acquire_completes(
    aws: FakeImageBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB throttles with ProvisionedThroughputExceededException, HTTP 400 (API
    reference, Common errors; botocore's _retry.json "throughput_exceeded"). moto never
    throttles, so its DynamoDB backend (in this process, behind its server) is made to
    answer so twice, in DynamoDB's own error shape."""
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException

    _, arn, _ = golden_build(aws)
    backend = moto_services.MotoServices.backend("dynamodb", ACCOUNT, REGION)
    update_item = backend.update_item
    throttles = iter(range(2))

    def throttled(*args: Any, **kwargs: Any) -> Any:
        if next(throttles, None) is not None:
            raise DynamodbException(
                ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            )
        return update_item(*args, **kwargs)

    monkeypatch.setattr(backend, "update_item", throttled)
    keeper = registry()
    assert keeper.acquire(A.pin(arn)) == "acquired"
    assert [item["Holder"]["S"] for item in holders_in_table()] == [A.key]
    assert keeper.calls >= 3 + 2  # the two throttled UpdateItems were sent again
