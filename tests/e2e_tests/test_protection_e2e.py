"""Protection end to end: a protected lookup's reports reach the registry, which keeps one tag.

The app (README, "Keep pinned builds alive"): one stack in one account holding an
``ImageFactory`` and a ``LatestImageBuild(..., protect_pinned_build=True)``. Every piece
runs as it is synthesized:

* CloudFormation's requests are built from the template (``tests/support/cloudformation.py``)
  and go through aws-cdk-lib's Provider framework ``onEvent`` from the cloud assembly, in
  Node.js (``tests/support/invoke_framework.js``), which invokes the lookup handler through
  the Lambda Invoke API; the handler runs from its synthesized asset under PyPI's
  ``awslambdaric`` (``local_endpoints/lambda_service.py``).
* The handler's pin reports (PutEvents) go to moto's EventBridge in server mode, to the bus
  ``latest-image-build-pins``, where a rule with the synthesized ``ImageFactory`` rule's
  ``EventPattern`` sends them to an SQS queue. The synthesized rule's target is the
  registry function, which moto would run in Docker: the queue stands in for it, and each
  captured event is handed to the registry function (its synthesized asset and
  environment, under awslambdaric) through the Invoke API, as EventBridge invokes a Lambda
  target: asynchronously (``InvocationType=Event``), with the whole event. moto's SQS
  delivery drops the event's ``account`` unless an input transformer names it, so the
  queue's target rebuilds the whole envelope (``tests/support/registry.WHOLE_EVENT``).
* The registry reads its account from ``context.invoked_function_arn``: LocalLambda hands
  awslambdaric the function's ARN in ``Lambda-Runtime-Invoked-Function-Arn``
  (``arn:aws:lambda:us-east-1:123456789012:function:...``, as Lambda does), so the registry
  keeps this account's builds.
* DynamoDB (the holders table, created from the synthesized table), EC2 (the AMIs) and
  CloudFormation (the stack, for rollback reads and the daily renewal) are moto's; the
  builds are the local Image Builder's.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import aws_cdk as cdk
import boto3
import pytest

from constructs_lib import ImageFactory, LatestImageBuild
from image_lookup.pins import PIN_EVENT_DETAIL_TYPE, PIN_EVENT_SOURCE, REGISTRY_NAME
from image_lookup.protection import PROTECTED_TAG_KEY
from local_endpoints.imagebuilder import ACCOUNT, REGION, FakeBuild, FakeImageBuilder
from local_endpoints.lambda_service import InvokeRecord, LocalLambda
from local_endpoints.moto_services import MotoServices
from local_endpoints.response_bucket import ResponseBucket
from tests.support.framework_driver import deliver
from tests.support.protection_stack import (
    MotoLookupStack,
    NamedDeployedStack,
    ReportCapture,
    create_table,
    moto_client,
)
from tests.support.synth import REPO, synth_app

pytestmark = pytest.mark.synth

STACK = "GoldenImages"
NAME = "golden-al2023"
ORGANIZATION = "o-a1b2c3d4e5"
OTHER_ACCOUNT = "210987654321"
LOOKUP_ENTRY = "image_lookup.handler.on_event"
REGISTRY_ENTRY = "pin_registry.handler.on_event"
AMI_REGIONS = ("us-east-1", "us-west-2")


def build_app(app: cdk.App) -> None:
    """The README's protection example: the registry and a protected lookup in one stack."""
    stack = cdk.Stack(app, STACK, env=cdk.Environment(account=ACCOUNT, region=REGION))
    ImageFactory(stack, "PinRegistry", organization_id=ORGANIZATION)
    LatestImageBuild(stack, "Golden", image_name=NAME, version="1.x.x", protect_pinned_build=True)


class Harness(NamedTuple):
    stack: NamedDeployedStack
    imagebuilder: FakeImageBuilder
    moto: MotoServices
    lookup: LocalLambda
    registry: LocalLambda
    bucket: ResponseBucket
    framework_dir: Path
    framework_handler: str
    framework_env: dict[str, str]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The synthesized stack, both functions under awslambdaric, moto and the Image Builder."""
    workdir = tmp_path_factory.mktemp("protection-e2e")
    stack = NamedDeployedStack(synth_app(workdir / "cdk.out", build_app), STACK, {})
    lookup_id = stack.function_with_handler(LOOKUP_ENTRY)
    registry_id = stack.function_with_handler(REGISTRY_ENTRY)
    (framework_id,) = [
        key for key in stack.of_type("AWS::Lambda::Function") if key not in (lookup_id, registry_id)
    ]
    imagebuilder = FakeImageBuilder().start()
    moto = MotoServices().start()
    bucket = ResponseBucket(workdir).start()
    lookup = stack.run_function(
        lookup_id,
        {
            **imagebuilder.client_environment(),
            **{f"AWS_ENDPOINT_URL_{name}": moto.url for name in ("CLOUDFORMATION", "EC2")},
            "AWS_ENDPOINT_URL_EVENTBRIDGE": moto.url,
        },
    )
    registry_env = stack.environment(registry_id)
    assert set(registry_env) == {"PIN_TABLE_NAME", "LEASE_SECONDS"}
    registry = stack.run_function(
        registry_id,
        {
            **imagebuilder.client_environment(),
            **{f"AWS_ENDPOINT_URL_{name}": moto.url for name in ("DYNAMODB", "EC2")},
            **registry_env,
        },
    )
    framework = stack.resources[framework_id]["Properties"]
    framework_env = {
        "PATH": os.environ["PATH"],
        "NODE_PATH": str(REPO / "node_modules"),
        **stack.environment(framework_id),
        **imagebuilder.client_environment(),
        "AWS_ENDPOINT_URL_LAMBDA": lookup.url,
        **bucket.node_environment(),
    }
    yield Harness(
        stack,
        imagebuilder,
        moto,
        lookup,
        registry,
        bucket,
        stack.asset_dir(framework_id),
        framework["Handler"],
        framework_env,
    )
    lookup.stop()
    registry.stop()
    bucket.stop()
    moto.stop()
    imagebuilder.stop()


class World(NamedTuple):
    """One test's fresh state: the harness, the stack in moto, its lookup's logical id."""

    harness: Harness
    cloudformation: MotoLookupStack
    lookup_id: str


@pytest.fixture
def world(harness: Harness) -> Iterator[World]:
    """Fresh moto state, the registry's table from the template, the stack in moto."""
    harness.moto.reset()
    harness.imagebuilder.images.clear()
    harness.imagebuilder.calls.clear()
    harness.bucket.puts.clear()
    (table_id,) = harness.stack.of_type("AWS::DynamoDB::Table")
    assert create_table(harness.moto, harness.stack.resources[table_id]["Properties"]) == (
        REGISTRY_NAME
    )
    (lookup_id,) = harness.stack.of_type("Custom::LatestImageBuild")
    cloudformation = MotoLookupStack(harness.moto, STACK, [lookup_id])
    made_up_id = harness.stack.stack_id
    # the requests carry the id of the stack moto holds (rollback reads, the renewal)
    harness.stack.stack_id = cloudformation.stack_id
    yield World(harness, cloudformation, lookup_id)
    harness.stack.stack_id = made_up_id
    assert harness.imagebuilder.shape_violations == []


@pytest.fixture
def reports(world: World) -> ReportCapture:
    """The registry's bus in moto, with the synthesized reports rule's pattern."""
    stack = world.harness.stack
    (rule,) = [
        stack.resources[key]["Properties"]
        for key in stack.of_type("AWS::Events::Rule")
        if "EventPattern" in stack.resources[key]["Properties"]
    ]
    assert rule["EventPattern"] == {
        "source": [PIN_EVENT_SOURCE],
        "detail-type": [PIN_EVENT_DETAIL_TYPE],
    }
    # the rule is on the registry's bus, which the lookup finds by name
    (bus_id,) = stack.of_type("AWS::Events::EventBus")
    assert rule["EventBusName"] == {"Ref": bus_id}
    assert stack.resolve(rule["EventBusName"]) == REGISTRY_NAME
    return ReportCapture(world.harness.moto, rule["EventPattern"])


# ----- the pieces -----------------------------------------------------------------------


def request(world: World, request_type: str, **kwargs: Any) -> dict[str, Any]:
    """The request CloudFormation would send to the lookup."""
    harness = world.harness
    sent = harness.stack.event(request_type, world.lookup_id, "", **kwargs)
    sent["ResponseURL"] = harness.bucket.response_url(
        harness.stack.stack_id, world.lookup_id, sent["RequestId"]
    )
    return sent


def run_registry(harness: Harness, event: dict[str, Any]) -> InvokeRecord:
    """Invoke the registry function with ``event`` as EventBridge invokes a Lambda target."""
    client = boto3.client(
        "lambda",
        endpoint_url=harness.registry.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.invoke(
        FunctionName=harness.registry.function_arn,
        InvocationType="Event",
        Payload=json.dumps(event).encode(),
    )
    return harness.registry.invocations[-1]


def apply_reports(harness: Harness, reports: ReportCapture) -> list[dict[str, Any]]:
    """Hand every captured report to the registry; return what each came to."""
    outcomes = []
    for event in reports.received():
        record = run_registry(harness, event)
        assert record.function_error is None, record.response or harness.registry.runtime_log
        outcomes.append(record.response)
    return outcomes


def golden_build(imagebuilder: FakeImageBuilder, moto: MotoServices, number: int) -> str:
    """Build ``number`` of golden 1.2.0, distributed to two regions of this account and
    shared to another; it carries a tag of its own (stage=prod) that protection leaves."""
    image = next((i for i in imagebuilder.images if i.version == "1.2.0"), None)
    if image is None:
        image = imagebuilder.add(NAME, "1.2.0")
        build = image.builds[0]
    else:
        build = FakeBuild(number)
        image.builds.append(build)
    arn = image.build_arn(build)
    build.tags = {"stage": "prod"}
    build.amis = [
        {"region": region, "image": register_ami(moto, region, arn), "accountId": ACCOUNT}
        for region in AMI_REGIONS
    ] + [{"region": REGION, "image": "ami-0aaaaaaaaaaaaaaaa", "accountId": OTHER_ACCOUNT}]
    return arn


def register_ami(moto: MotoServices, region: str, build_arn: str) -> str:
    """An AMI in moto's EC2 as Image Builder leaves it: tagged ``Ec2ImageBuilderArn`` = the
    build's ARN (Image Builder User Guide, "Tag Image Builder output resources"). moto's
    RegisterImage ignores TagSpecifications, so the tag is added with CreateTags."""
    ec2 = moto_client(moto, "ec2", region)
    image_id = str(
        ec2.register_image(
            Name=f"golden-{uuid.uuid4().hex[:8]}",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
    )
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "Ec2ImageBuilderArn", "Value": build_arn}])
    return image_id


def ours(tags: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in tags.items() if key.startswith("latest-image-build:")}


def build_tags(harness: Harness, build_arn: str) -> dict[str, str]:
    """The build's tags, as GetImage reports them."""
    client = boto3.client(
        "imagebuilder",
        endpoint_url=harness.imagebuilder.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return dict(client.get_image(imageBuildVersionArn=build_arn)["image"]["tags"])


def ami_tags_of_build(harness: Harness, build_arn: str) -> dict[str, dict[str, str]]:
    """Tags of each of the build's AMIs in this account, by AMI id."""
    image = next(i for i in harness.imagebuilder.images if build_arn.startswith(i.arn))
    build = next(b for b in image.builds if image.build_arn(b) == build_arn)
    found = {}
    for ami in build.amis or []:
        if ami["accountId"] != ACCOUNT:
            continue
        ec2 = moto_client(harness.moto, "ec2", ami["region"])
        (described,) = ec2.describe_images(ImageIds=[ami["image"]])["Images"]
        found[ami["image"]] = {tag["Key"]: tag["Value"] for tag in described.get("Tags", [])}
    return found


def assert_marked(harness: Harness, build_arn: str) -> None:
    """One tag of ours on the build and on each of its AMIs here; their own tags kept."""
    assert build_tags(harness, build_arn) == {"stage": "prod", PROTECTED_TAG_KEY: "true"}
    amis = ami_tags_of_build(harness, build_arn)
    assert len(amis) == len(AMI_REGIONS)
    for tags in amis.values():
        assert ours(tags) == {PROTECTED_TAG_KEY: "true"}
        assert tags["Ec2ImageBuilderArn"] == build_arn


def assert_unmarked(harness: Harness, build_arn: str) -> None:
    assert build_tags(harness, build_arn) == {"stage": "prod"}
    for tags in ami_tags_of_build(harness, build_arn).values():
        assert ours(tags) == {}
        assert tags["Ec2ImageBuilderArn"] == build_arn


def holders(harness: Harness) -> dict[str, dict[str, Any]]:
    """The registry table's items as ``{build: {holder: item}}``, plain values."""
    items = moto_client(harness.moto, "dynamodb").scan(TableName=REGISTRY_NAME)["Items"]
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        plain = {key: next(iter(value.values())) for key, value in item.items()}
        found.setdefault(plain["Build"], {})[plain["Holder"]] = plain
    return found


def report_of(event: dict[str, Any]) -> tuple[str, str, list[dict[str, str]]]:
    assert event["source"] == PIN_EVENT_SOURCE
    assert event["detail-type"] == PIN_EVENT_DETAIL_TYPE
    # the sender's account, as EventBridge sets it: the registry trusts only this
    assert event["account"] == ACCOUNT
    detail = event["detail"]
    return detail["action"], detail["stackId"], detail["pins"]


# ----- the tests ------------------------------------------------------------------------


def test_create_update_cleanup_and_delete_keep_one_marker_while_held(
    world: World, reports: ReportCapture
) -> None:
    """CloudFormation's sequence (User Guide, "Custom resource request types"): Create pins
    B1; an Update moves the pin to B2 while B1 stays held (it is the rollback target until
    cleanup); the cleanup Delete of B1's physical id (UPDATE_COMPLETE_CLEANUP_IN_PROGRESS)
    lets B1 go; the stack's Delete lets B2 go. README "Keep pinned builds alive": one tag,
    ``latest-image-build:protected``, on a build with a holder and on its AMIs in its
    account; none once the last holder let go; holders in the table."""
    harness, moto_stack, lookup = world
    stack_id = moto_stack.stack_id
    holder_key = f"{stack_id}|{lookup}"
    b1 = golden_build(harness.imagebuilder, harness.moto, 1)

    moto_stack.status("CREATE_IN_PROGRESS")
    create = request(world, "Create")
    created = deliver(harness, create)
    assert created["Status"] == "SUCCESS", created
    assert created["PhysicalResourceId"] == b1
    (event,) = reports.received()
    assert report_of(event) == ("acquire", stack_id, [{"logicalId": lookup, "build": b1}])
    # the report alone changes nothing: the registry does
    assert ours(build_tags(harness, b1)) == {}
    answer = run_registry(harness, event)
    assert answer.function_error is None, harness.registry.runtime_log
    assert answer.response["pins"] == {f"{lookup} {b1}": "acquired"}
    assert_marked(harness, b1)
    item = holders(harness)[b1][holder_key]
    assert (item["StackName"], item["LogicalId"], item["Account"], item["Region"]) == (
        STACK,
        lookup,
        ACCOUNT,
        REGION,
    )
    moto_stack.pin(lookup, b1, "CREATE_COMPLETE")
    moto_stack.status("CREATE_COMPLETE")

    b2 = golden_build(harness.imagebuilder, harness.moto, 2)
    moto_stack.status("UPDATE_IN_PROGRESS")
    first_properties = create["ResourceProperties"]
    update = request(world, "Update", physical_id=b1, old_properties=first_properties)
    update["ResourceProperties"] = later_deploy(first_properties)
    updated = deliver(harness, update)
    assert updated["Status"] == "SUCCESS", updated
    assert updated["PhysicalResourceId"] == b2
    (answer_b2,) = apply_reports(harness, reports)
    assert answer_b2["action"] == "acquire"
    assert answer_b2["pins"] == {f"{lookup} {b2}": "acquired"}
    assert_marked(harness, b1)
    assert_marked(harness, b2)
    assert {build: set(items) for build, items in holders(harness).items()} == {
        b1: {holder_key},
        b2: {holder_key},
    }
    moto_stack.pin(lookup, b2, "UPDATE_COMPLETE")

    moto_stack.status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    cleanup = request(world, "Delete", physical_id=b1)
    cleanup["ResourceProperties"] = first_properties  # the replaced resource's properties
    assert deliver(harness, cleanup)["Status"] == "SUCCESS"
    (event,) = reports.received()
    assert report_of(event) == ("release", stack_id, [{"logicalId": lookup, "build": b1}])
    assert run_registry(harness, event).response["pins"] == {f"{lookup} {b1}": "unmarked"}
    assert_unmarked(harness, b1)
    assert_marked(harness, b2)
    assert set(holders(harness)) == {b2}
    moto_stack.status("UPDATE_COMPLETE")

    moto_stack.status("DELETE_IN_PROGRESS")
    deleted = deliver(harness, request(world, "Delete", physical_id=b2))
    assert deleted["Status"] == "SUCCESS"
    assert deleted["PhysicalResourceId"] == b2
    (answer_delete,) = apply_reports(harness, reports)
    assert answer_delete["action"] == "release"
    assert answer_delete["pins"] == {f"{lookup} {b2}": "unmarked"}
    assert_unmarked(harness, b2)
    assert holders(harness) == {}
    # each registry invocation read this account from its ARN: no pin was refused as
    # "not this registry's build"
    assert all(
        "not this registry's build" not in json.dumps(record.response)
        for record in harness.registry.invocations
    )


def later_deploy(properties: dict[str, Any]) -> dict[str, Any]:
    """The lookup's properties as a later synth writes them: a larger ``RefreshToken``
    (the synth time in nanoseconds)."""
    return dict(properties, RefreshToken=str(int(properties["RefreshToken"]) + 10**9))


def test_a_rollback_keeps_the_restored_build_held_and_its_cleanup_lets_the_failed_one_go(
    world: World, reports: ReportCapture
) -> None:
    """CloudFormation rolls a failed update back with an Update whose ResourceProperties
    are the last good template's (UPDATE_ROLLBACK_IN_PROGRESS), then deletes the failed
    attempt's physical id (UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS) (User Guide,
    "Custom resource request types"). README "Reports": a rollback re-reports the build it
    restores; the cleanup Delete releases the build that broke the deploy. So B1 stays
    marked throughout and B2 ends unmarked."""
    harness, moto_stack, lookup = world
    holder_key = f"{moto_stack.stack_id}|{lookup}"
    b1 = golden_build(harness.imagebuilder, harness.moto, 1)
    moto_stack.status("CREATE_IN_PROGRESS")
    create = request(world, "Create")
    assert deliver(harness, create)["PhysicalResourceId"] == b1
    apply_reports(harness, reports)
    moto_stack.pin(lookup, b1, "CREATE_COMPLETE")
    moto_stack.status("CREATE_COMPLETE")

    b2 = golden_build(harness.imagebuilder, harness.moto, 2)
    first, second = create["ResourceProperties"], later_deploy(create["ResourceProperties"])
    moto_stack.status("UPDATE_IN_PROGRESS")
    update = request(world, "Update", physical_id=b1, old_properties=first)
    update["ResourceProperties"] = second
    assert deliver(harness, update)["PhysicalResourceId"] == b2
    apply_reports(harness, reports)
    moto_stack.pin(lookup, b2, "UPDATE_COMPLETE")
    assert_marked(harness, b1)
    assert_marked(harness, b2)

    # a later resource fails: the rollback Update
    moto_stack.status("UPDATE_ROLLBACK_IN_PROGRESS")
    rollback = request(world, "Update", physical_id=b2, old_properties=second)
    rollback["ResourceProperties"] = first
    rolled_back = deliver(harness, rollback)
    assert rolled_back["Status"] == "SUCCESS", rolled_back
    assert rolled_back["PhysicalResourceId"] == b1
    (event,) = reports.received()
    pins = [{"logicalId": lookup, "build": b1}]
    assert report_of(event) == ("acquire", moto_stack.stack_id, pins)
    assert run_registry(harness, event).function_error is None
    moto_stack.pin(lookup, b1, "UPDATE_COMPLETE")
    assert_marked(harness, b1)

    moto_stack.status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    cleanup = request(world, "Delete", physical_id=b2)
    cleanup["ResourceProperties"] = second  # the failed attempt's resource
    assert deliver(harness, cleanup)["Status"] == "SUCCESS"
    (event,) = reports.received()
    pins = [{"logicalId": lookup, "build": b2}]
    assert report_of(event) == ("release", moto_stack.stack_id, pins)
    assert run_registry(harness, event).response["pins"] == {f"{lookup} {b2}": "unmarked"}
    assert_unmarked(harness, b2)
    assert_marked(harness, b1)
    assert {build: set(items) for build, items in holders(harness).items()} == {b1: {holder_key}}


def renewal_input(stack: NamedDeployedStack) -> dict[str, Any]:
    """The input of the stack's daily renewal rule, as EventBridge hands it to the handler:
    the target's ``Input`` (a constant JSON text) with ``AWS::StackId`` resolved."""
    lookup_id = stack.function_with_handler(LOOKUP_ENTRY)
    (target,) = [
        target
        for key in stack.of_type("AWS::Events::Rule")
        for target in stack.resources[key]["Properties"].get("Targets", [])
        if target["Arn"] == {"Fn::GetAtt": [lookup_id, "Arn"]}
    ]
    renewal: dict[str, Any] = json.loads(stack.resolve(target["Input"]))
    return renewal


def test_the_daily_renewal_reports_what_the_stack_pins_now(
    world: World, reports: ReportCapture
) -> None:
    """README "Leases": each protecting stack has a daily rule that renews its pins; the
    handler reads the lookups' physical ids (ListStackResources, here moto's) and reports
    them; the registry extends each holder's lease (the synthesized ``LEASE_SECONDS``)."""
    harness, moto_stack, lookup = world
    b1 = golden_build(harness.imagebuilder, harness.moto, 1)
    created = deliver(harness, request(world, "Create"))
    assert created["PhysicalResourceId"] == b1
    apply_reports(harness, reports)
    moto_stack.pin(lookup, b1, "CREATE_COMPLETE")
    moto_stack.status("CREATE_COMPLETE")
    acquired = holders(harness)[b1][f"{moto_stack.stack_id}|{lookup}"]

    renewal = renewal_input(harness.stack)
    assert renewal == {
        "latest-image-build": "renew-pins",
        "stackId": moto_stack.stack_id,
        "lookups": [lookup],
    }
    time.sleep(1.1)  # the lease is counted in whole seconds
    client = boto3.client(
        "lambda",
        endpoint_url=harness.lookup.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.invoke(
        FunctionName=harness.lookup.function_arn,
        InvocationType="Event",  # how EventBridge invokes a Lambda target
        Payload=json.dumps(renewal).encode(),
    )
    answer = harness.lookup.invocations[-1]
    assert answer.function_error is None, answer.response or harness.lookup.runtime_log
    assert answer.response["pins"] == 1
    assert answer.response["registries"] == [
        f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{REGISTRY_NAME}"
    ]
    (event,) = reports.received()
    assert report_of(event) == ("renew", moto_stack.stack_id, [{"logicalId": lookup, "build": b1}])
    registered = run_registry(harness, event)
    assert registered.function_error is None, registered.response
    # (its outcome's name, "renewed", is the subject of the next test)
    renewed = holders(harness)[b1][f"{moto_stack.stack_id}|{lookup}"]
    registry_id = harness.stack.function_with_handler(REGISTRY_ENTRY)
    lease = int(harness.stack.environment(registry_id)["LEASE_SECONDS"])
    assert int(renewed["ExpiresAt"]) > int(acquired["ExpiresAt"])
    assert int(renewed["ExpiresAt"]) - lease <= time.time() + 1
    assert renewed["AcquiredAt"] == acquired["AcquiredAt"]
    assert_marked(harness, b1)


def test_a_renewal_whose_marking_fails_keeps_the_holder_and_the_marker(
    world: World, reports: ReportCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lambda/pin_registry/registry.py: if marking fails "the holder is taken back out (when
    this report added it)": a renewal of a live holder added nothing, so a failed marking
    (EC2 refuses CreateTags, as IAM would: UnauthorizedOperation) leaves the holder, its
    lease and the build's marker as they were; the report fails so that EventBridge
    retries it. moto's EC2 backend runs in this process, behind its server."""
    from moto.ec2.exceptions import EC2ClientError

    harness, moto_stack, lookup = world
    b1 = golden_build(harness.imagebuilder, harness.moto, 1)
    deliver(harness, request(world, "Create"))
    apply_reports(harness, reports)
    moto_stack.pin(lookup, b1, "CREATE_COMPLETE")
    moto_stack.status("CREATE_COMPLETE")
    assert_marked(harness, b1)
    boto3.client(
        "lambda",
        endpoint_url=harness.lookup.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).invoke(
        FunctionName=harness.lookup.function_arn,
        InvocationType="Event",
        Payload=json.dumps(renewal_input(harness.stack)).encode(),
    )
    (renewal_event,) = reports.received()  # the stack's daily renewal, as sent

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise EC2ClientError("UnauthorizedOperation", "You are not authorized")

    backend = MotoServices.backend("ec2", ACCOUNT, "us-west-2")
    monkeypatch.setattr(backend, "create_tags", refuse)
    failed = run_registry(harness, renewal_event)
    assert failed.function_error == "Unhandled"
    monkeypatch.undo()
    assert set(holders(harness).get(b1, {})) == {f"{moto_stack.stack_id}|{lookup}"}
    assert_marked(harness, b1)
    # and once EC2 takes the tag again, the retried report is a renewal
    assert run_registry(harness, renewal_event).response["pins"] == {f"{lookup} {b1}": "renewed"}


def test_the_daily_sweep_unmarks_a_build_whose_last_lease_ended(
    world: World, reports: ReportCapture
) -> None:
    """README, "A stack deleted while its account is gone": its holder ends with its lease
    and the registry's daily sweep unmarks the build. The synthesized sweep rule is a
    schedule with no input, so the function gets EventBridge's "Scheduled Event" (User
    Guide, "Creating a rule that runs on a schedule"). The lease's end is written into the
    item (moto's clock cannot be moved from here)."""
    harness, _, lookup = world
    b1 = golden_build(harness.imagebuilder, harness.moto, 1)
    deliver(harness, request(world, "Create"))
    apply_reports(harness, reports)
    assert_marked(harness, b1)
    (sweep,) = [
        harness.stack.resources[key]["Properties"]
        for key in harness.stack.of_type("AWS::Events::Rule")
        if harness.stack.resources[key]["Properties"].get("ScheduleExpression")
        and harness.stack.resources[key]["Properties"]["Targets"][0]["Arn"]
        == {"Fn::GetAtt": [harness.stack.function_with_handler(REGISTRY_ENTRY), "Arn"]}
    ]
    assert "Input" not in sweep["Targets"][0]
    scheduled = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-12-06T00:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/sweep"],
        "detail": {},
    }
    assert run_registry(harness, scheduled).response["expired_holders"] == 0
    assert_marked(harness, b1)

    moto_client(harness.moto, "dynamodb").update_item(
        TableName=REGISTRY_NAME,
        Key={"Build": {"S": b1}, "Holder": {"S": f"{harness.stack.stack_id}|{lookup}"}},
        UpdateExpression="SET ExpiresAt = :ended",
        ExpressionAttributeValues={":ended": {"N": str(int(time.time()) - 60)}},
    )
    swept = run_registry(harness, scheduled).response
    assert (swept["action"], swept["expired_holders"], swept["builds"]) == (
        "sweep",
        1,
        {b1: "unmarked"},
    )
    assert_unmarked(harness, b1)
    assert holders(harness) == {}


def test_a_report_the_registry_cannot_apply_fails_its_invocation_and_leaves_nothing(
    world: World, reports: ReportCapture
) -> None:
    """README "A failed protect leaves nothing": the registry fails the report (a function
    error, which EventBridge's target retry policy retries) and takes back the holder it
    added. Here the build was deleted between the report and its delivery."""
    harness, _, _ = world
    b1 = golden_build(harness.imagebuilder, harness.moto, 1)
    deliver(harness, request(world, "Create"))
    (event,) = reports.received()
    (image,) = harness.imagebuilder.images
    harness.imagebuilder.images.clear()
    answer = run_registry(harness, event)
    assert answer.function_error == "Unhandled"
    assert f"cannot protect build {b1}: Image Builder no longer has it" in json.dumps(
        answer.response
    )
    assert holders(harness) == {}
    harness.imagebuilder.images.append(image)  # to read its tags and its AMIs' again
    assert_unmarked(harness, b1)


def test_a_protected_deploy_without_a_registry_fails_in_one_line(world: World) -> None:
    """README: "A protected deploy without a registry there fails in one line". moto's
    EventBridge answers PutEvents on a bus that does not exist with
    ResourceNotFoundException (EventBridge API reference, PutEvents)."""
    harness = world.harness
    golden_build(harness.imagebuilder, harness.moto, 1)
    failed = deliver(harness, request(world, "Create"))
    assert failed["Status"] == "FAILED"
    first_line = failed["Reason"].splitlines()[0]
    assert first_line.startswith(
        f"Error: no pin registry at arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{REGISTRY_NAME}: "
    )
    assert "ImageFactory" in first_line


def test_a_lookup_reports_only_once_its_registry_in_the_same_stack_can_hear_it(
    harness: Harness,
) -> None:
    """CloudFormation creates resources that do not depend on each other in parallel, and
    deletes them in reverse dependency order (User Guide, "DependsOn attribute"). A
    protected lookup whose registry is in its own stack (the README's example) must be
    created after the registry's bus, the reports rule and the rule's permission to invoke
    the registry function (else the acquire fails on a missing bus, or is delivered to no
    rule and dropped), and so be deleted before them (its release reaches the registry)."""
    stack = harness.stack
    (lookup,) = stack.of_type("Custom::LatestImageBuild")
    registry_function = stack.function_with_handler(REGISTRY_ENTRY)
    (reports_rule,) = [
        key
        for key in stack.of_type("AWS::Events::Rule")
        if "EventPattern" in stack.resources[key]["Properties"]
    ]
    (permission,) = [
        key
        for key in stack.of_type("AWS::Lambda::Permission")
        if stack.resources[key]["Properties"].get("SourceArn")
        == {"Fn::GetAtt": [reports_rule, "Arn"]}
    ]
    (bus,) = stack.of_type("AWS::Events::EventBus")
    before = stack.created_before(lookup)
    assert {bus, reports_rule, permission, registry_function} <= before
