"""End to end through the real pieces: aws-cdk-lib's Provider framework drives the handler.

* The app is synthesized; the events are built from its template as CloudFormation
  sends them (``tests/support/cloudformation.py``): resolved, all strings,
  ``ServiceToken`` and ``ServiceTimeout`` in ``ResourceProperties``.
* The framework's own ``onEvent`` code, from the cloud assembly, runs in Node.js
  with the AWS SDK modules Lambda's Node.js runtime provides (pinned in
  package.json), and invokes the handler through the Lambda Invoke API.
* The handler runs from its synthesized asset under PyPI's ``awslambdaric``
  (``local_endpoints/lambda_service.py``), talking to the local Image Builder.
* The framework's response is captured where it PUTs it, at the ResponseURL
  (``local_endpoints/response_bucket.py``).
* The handler's CloudFormation reads (rollbacks) go to moto's CloudFormation in
  server mode (``local_endpoints/moto_services.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_ec2 as ec2

from constructs_lib import LatestImageBuild
from local_endpoints.imagebuilder import ACCOUNT, REGION, FakeBuild, FakeImageBuilder
from local_endpoints.lambda_service import LocalLambda
from local_endpoints.moto_services import MotoServices
from local_endpoints.response_bucket import ResponseBucket
from tests.support.cloudformation import DeployedStack
from tests.support.framework_driver import deliver
from tests.support.stack_history import StackHistory
from tests.support.synth import REPO, synth_app

pytestmark = pytest.mark.synth

STACK = "LookupStack"
NAME = "golden-al2023"
HANDLER_ENTRY = "image_lookup.handler.on_event"


def build_app(app: cdk.App) -> None:
    """One literal lookup, one whose selector is a parameter (a token checked at deploy)."""
    stack = cdk.Stack(app, STACK, env=cdk.Environment(account=ACCOUNT, region=REGION))
    selector = cdk.CfnParameter(stack, "Selector", default="1.x.x")
    LatestImageBuild(stack, "Golden", image_name=NAME, version="1.x.x")
    LatestImageBuild(stack, "FromParameter", image_name=NAME, version=selector.value_as_string)
    launched = LatestImageBuild(stack, "Launched", image_name=NAME, platform="Linux")
    ec2.LaunchTemplate(stack, "Template", machine_image=launched.machine_image())


class Harness(NamedTuple):
    stack: DeployedStack
    imagebuilder: FakeImageBuilder
    moto: MotoServices
    function: LocalLambda
    bucket: ResponseBucket
    framework_dir: Path
    framework_handler: str
    framework_env: dict[str, str]


@pytest.fixture(
    scope="module", params=[True, False], ids=["cdk-managed-log-group", "own-log-group"]
)
def harness(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Harness]:
    """The whole chain, for an app with and without aws-cdk-lib's managed Lambda log groups."""
    workdir = tmp_path_factory.mktemp("e2e")
    flag = {"@aws-cdk/aws-lambda:useCdkManagedLogGroup": request.param}
    assembly = synth_app(workdir / "cdk.out", build_app, **flag)
    stack = DeployedStack(assembly, STACK, {"Selector": "1.x.x"})
    functions = stack.of_type("AWS::Lambda::Function")
    handler_id = next(
        f for f in functions if stack.resources[f]["Properties"]["Handler"] == HANDLER_ENTRY
    )
    framework_id = next(f for f in functions if f != handler_id)
    framework = stack.resources[framework_id]["Properties"]
    imagebuilder = FakeImageBuilder().start()
    moto = MotoServices().start()
    bucket = ResponseBucket(workdir).start()
    function = stack.run_function(
        handler_id,
        {
            **imagebuilder.client_environment(),
            "AWS_ENDPOINT_URL_CLOUDFORMATION": moto.url,
            "AWS_ENDPOINT_URL_EC2": moto.url,
        },
    )
    framework_env = {
        "PATH": os.environ["PATH"],
        "NODE_PATH": str(REPO / "node_modules"),
        **{
            key: str(stack.resolve(value))
            for key, value in framework["Environment"]["Variables"].items()
        },
        **{key: value for key, value in imagebuilder.client_environment().items()},
        "AWS_ENDPOINT_URL_LAMBDA": function.url,
        **bucket.node_environment(),
    }
    yield Harness(
        stack,
        imagebuilder,
        moto,
        function,
        bucket,
        stack.asset_dir(framework_id),
        framework["Handler"],
        framework_env,
    )
    function.stop()
    bucket.stop()
    moto.stop()
    imagebuilder.stop()


@pytest.fixture
def world(harness: Harness) -> Iterator[Harness]:
    harness.imagebuilder.images.clear()
    harness.imagebuilder.calls.clear()
    harness.bucket.puts.clear()
    yield harness
    assert harness.imagebuilder.shape_violations == []


@pytest.fixture
def history(world: Harness) -> Iterator[StackHistory]:
    """The stack in moto's CloudFormation; events are sent with its StackId."""
    world.moto.reset()
    stack_history = StackHistory(world.moto.url, STACK)
    made_up_id = world.stack.stack_id
    world.stack.stack_id = stack_history.stack_id
    yield stack_history
    world.stack.stack_id = made_up_id


def event(harness: Harness, request_type: str, prefix: str, **kwargs: Any) -> dict[str, Any]:
    """The event CloudFormation would send to the lookup whose logical id starts with ``prefix``."""
    logical_id = next(
        key for key in harness.stack.of_type("Custom::LatestImageBuild") if key.startswith(prefix)
    )
    sent = harness.stack.event(request_type, logical_id, "", **kwargs)
    sent["ResponseURL"] = harness.bucket.response_url(
        harness.stack.stack_id, logical_id, sent["RequestId"]
    )
    return sent


def build_arn(version: str) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/{NAME}/{version}"


def test_events_carry_what_cloudformation_adds(world: Harness) -> None:
    properties = event(world, "Create", "Golden")["ResourceProperties"]
    assert properties["ServiceTimeout"] == "720"
    assert properties["ServiceToken"].startswith("arn:aws:lambda:")
    assert all(isinstance(value, str) for value in properties.values())


def test_create_then_update_to_a_new_build_then_no_change(world: Harness) -> None:
    image = world.imagebuilder.add(NAME, "1.2.0")
    world.imagebuilder.add(NAME, "2.0.0")
    created = deliver(world, event(world, "Create", "Golden"))
    assert created["Status"] == "SUCCESS", created
    assert created["PhysicalResourceId"] == build_arn("1.2.0/1")
    assert created["Data"]["BuildVersion"] == "1.2.0/1"
    assert created["Data"]["AmiId"].startswith("ami-")
    old = event(world, "Create", "Golden")["ResourceProperties"]

    image.builds.append(FakeBuild(2))
    updated = deliver(
        world,
        event(
            world, "Update", "Golden", physical_id=created["PhysicalResourceId"], old_properties=old
        ),
    )
    assert updated["Status"] == "SUCCESS"
    assert updated["PhysicalResourceId"] == build_arn("1.2.0/2")

    unchanged = deliver(
        world,
        event(
            world, "Update", "Golden", physical_id=updated["PhysicalResourceId"], old_properties=old
        ),
    )
    assert unchanged["PhysicalResourceId"] == updated["PhysicalResourceId"]
    assert unchanged["Data"] == updated["Data"]
    # what the handler got is what CloudFormation sent, ServiceTimeout included
    sent = world.function.invocations[-1].payload
    assert sent["ResourceProperties"]["ServiceTimeout"] == "720"


def test_delete_makes_no_call_and_succeeds(world: Harness) -> None:
    deleted = deliver(world, event(world, "Delete", "Golden", physical_id=build_arn("1.0.0/1")))
    assert deleted["Status"] == "SUCCESS"
    assert deleted["PhysicalResourceId"] == build_arn("1.0.0/1")
    assert world.imagebuilder.calls == []


def test_failed_create_then_its_delete(world: Harness) -> None:
    world.imagebuilder.add(NAME, "3.0.0")
    failed = deliver(world, event(world, "Create", "Golden"))
    assert failed["Status"] == "FAILED"
    first_line = failed["Reason"].splitlines()[0]
    assert first_line.startswith(f"Error: no version matches for image '{NAME}' version '1.x.x'")
    assert "versions seen: 3.0.0" in first_line
    # the framework's marker makes the Delete that follows a no-op
    marker = failed["PhysicalResourceId"]
    invocations = len(world.function.invocations)
    deleted = deliver(world, event(world, "Delete", "Golden", physical_id=marker))
    assert deleted["Status"] == "SUCCESS"
    assert len(world.function.invocations) == invocations


def test_a_bad_selector_from_a_parameter_fails_with_its_value(world: Harness) -> None:
    world.stack.parameters["Selector"] = "1.x.3"  # the value the stack is deployed with
    try:
        bad = event(world, "Create", "FromParameter")
    finally:
        world.stack.parameters["Selector"] = "1.x.x"
    assert bad["ResourceProperties"]["VersionSelector"] == "1.x.3"
    failed = deliver(world, bad)
    assert failed["Status"] == "FAILED"
    assert failed["Reason"].splitlines()[0].startswith("Error: invalid version selector '1.x.3'")
    assert world.imagebuilder.calls == []


def test_the_logs_pointer_names_the_handlers_log_group(world: Harness) -> None:
    failed = deliver(world, event(world, "Create", "Golden"))
    pointer = next(line for line in failed["Reason"].splitlines() if line.startswith("Logs: "))
    log_group_name = pointer.removeprefix("Logs: ")
    groups = {
        world.stack.resolve(world.stack.resources[key]["Properties"].get("LogGroupName"))
        for key in world.stack.of_type("AWS::Logs::LogGroup")
    }
    assert log_group_name in groups
    # and the group exists before the handler's first invocation: the framework depends on it
    group_id = next(
        key
        for key in world.stack.of_type("AWS::Logs::LogGroup")
        if world.stack.resolve(world.stack.resources[key]["Properties"].get("LogGroupName"))
        == log_group_name
    )
    framework_ids = [
        key
        for key in world.stack.of_type("AWS::Lambda::Function")
        if world.stack.resources[key]["Properties"]["Handler"] != HANDLER_ENTRY
    ]
    assert group_id in world.stack.created_before(framework_ids[0])
    assert world.stack.resources[group_id]["Properties"]["RetentionInDays"] == 30


def test_a_build_with_amis_in_forty_regions_fits(world: Harness) -> None:
    image = world.imagebuilder.add(NAME, "1.0.0")
    regions = [f"xx-region-{n}" for n in range(39)] + [REGION]
    image.builds[0].amis = [
        {"region": region, "image": f"ami-{n:017x}", "accountId": ACCOUNT, "name": "n" * 128}
        for n, region in enumerate(regions)
    ]
    created = deliver(world, event(world, "Create", "Golden"))
    assert created["Status"] == "SUCCESS"
    assert created["Data"]["AmiId"] == f"ami-{39:017x}"


def test_a_launched_image_without_an_ami_here_fails_with_one_clear_line(world: Harness) -> None:
    image = world.imagebuilder.add(NAME, "1.0.0")
    image.builds[0].amis = [
        {"region": "eu-west-1", "image": "ami-0e0e0e0e0e0e0e0e0", "accountId": ACCOUNT}
    ]
    failed = deliver(world, event(world, "Create", "Launched"))
    assert failed["Status"] == "FAILED"
    assert failed["Reason"].splitlines()[0] == (
        f"Error: build {build_arn('1.0.0/1')} has no AMI in region {REGION}; this lookup "
        "feeds an AMI (machine_image() or publish_parameter()): add "
        f"{REGION} to the image's distribution"
    )


class Deploys(NamedTuple):
    created: dict[str, Any]
    updated: dict[str, Any]
    rolled_back: dict[str, Any]
    cleanup: dict[str, Any]
    cleanup_calls: int


def update_event(
    world: Harness, physical_id: str, properties: dict[str, Any], old_properties: dict[str, Any]
) -> dict[str, Any]:
    """An Update of the Golden lookup with these ResourceProperties and OldResourceProperties."""
    sent = event(world, "Update", "Golden", physical_id=physical_id, old_properties=old_properties)
    sent["ResourceProperties"] = properties
    return sent


def deploy_update_and_roll_back(
    world: Harness, history: StackHistory, before_rollback: Any = None
) -> Deploys:
    """Create (B1), a new build B2, Update (B2), a later resource fails, rollback, cleanup.

    The request sequence and the stack statuses are CloudFormation's (User Guide,
    "Custom resource request types": Update during UPDATE_ROLLBACK_IN_PROGRESS with the
    last good template's properties as ResourceProperties and the failed attempt's as
    OldResourceProperties; then, as the physical id changed, a Delete of the failed
    attempt's physical id during UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS).
    """
    logical_id = next(k for k in world.stack.of_type("Custom::LatestImageBuild") if "Golden" in k)
    image = world.imagebuilder.add(NAME, "1.2.0")
    history.stack_status("CREATE_IN_PROGRESS")
    history.resource(logical_id, "", "CREATE_IN_PROGRESS")
    create = event(world, "Create", "Golden")
    created = deliver(world, create)
    history.resource(logical_id, created["PhysicalResourceId"], "CREATE_COMPLETE")
    history.stack_status("CREATE_COMPLETE")
    first_properties = create["ResourceProperties"]

    image.builds.append(FakeBuild(2))
    history.stack_status("UPDATE_IN_PROGRESS")
    # the next deploy's synth writes a later RefreshToken (the synth time, by default)
    later_token = str(int(first_properties["RefreshToken"]) + 60 * 10**9)
    second_properties = dict(first_properties, RefreshToken=later_token)
    history.resource(logical_id, created["PhysicalResourceId"], "UPDATE_IN_PROGRESS")
    updated = deliver(
        world,
        update_event(world, created["PhysicalResourceId"], second_properties, first_properties),
    )
    history.resource(logical_id, updated["PhysicalResourceId"], "UPDATE_COMPLETE")

    if before_rollback is not None:
        before_rollback(image)
    history.stack_status("UPDATE_ROLLBACK_IN_PROGRESS")
    history.resource(logical_id, updated["PhysicalResourceId"], "UPDATE_IN_PROGRESS")
    # the last good template's properties, and the failed attempt's as the old ones
    rolled_back = deliver(
        world,
        update_event(world, updated["PhysicalResourceId"], first_properties, second_properties),
    )
    history.resource(logical_id, rolled_back["PhysicalResourceId"], "UPDATE_COMPLETE")

    history.stack_status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    calls = len(world.imagebuilder.calls)
    cleanup = deliver(
        world, event(world, "Delete", "Golden", physical_id=updated["PhysicalResourceId"])
    )
    return Deploys(created, updated, rolled_back, cleanup, len(world.imagebuilder.calls) - calls)


def test_a_rollback_restores_the_previous_pin_and_its_ami(
    world: Harness, history: StackHistory
) -> None:
    deploys = deploy_update_and_roll_back(world, history)
    assert deploys.created["PhysicalResourceId"] == build_arn("1.2.0/1")
    assert deploys.updated["Status"] == "SUCCESS"
    assert deploys.updated["PhysicalResourceId"] == build_arn("1.2.0/2")
    assert deploys.updated["Data"]["AmiId"] != deploys.created["Data"]["AmiId"]
    rolled_back = deploys.rolled_back
    assert rolled_back["Status"] == "SUCCESS"
    assert rolled_back["PhysicalResourceId"] == build_arn("1.2.0/1")
    # exactly the attributes the first deploy had: B1's AMI, version text, ...
    assert rolled_back["Data"] == deploys.created["Data"]
    # the rollback re-read B1 itself; it resolved nothing
    assert world.imagebuilder.calls[-1].operation == "GetImage"
    assert world.imagebuilder.calls[-1].params["imageBuildVersionArn"] == build_arn("1.2.0/1")
    assert deploys.cleanup["Status"] == "SUCCESS"
    assert deploys.cleanup["PhysicalResourceId"] == build_arn("1.2.0/2")
    assert deploys.cleanup_calls == 0


def test_a_rollback_succeeds_when_every_build_was_deprecated_since(
    world: Harness, history: StackHistory
) -> None:
    def deprecate_all(image: Any) -> None:
        for build in image.builds:
            build.state = "DEPRECATED"

    deploys = deploy_update_and_roll_back(world, history, deprecate_all)
    assert deploys.rolled_back["Status"] == "SUCCESS"
    assert deploys.rolled_back["PhysicalResourceId"] == build_arn("1.2.0/1")
    assert deploys.rolled_back["Data"]["AmiId"] == deploys.created["Data"]["AmiId"]
    assert deploys.cleanup["Status"] == "SUCCESS"


def register_ami(moto: MotoServices, build: str) -> str:
    """An AMI in moto's EC2 as Image Builder leaves it: tagged ``Ec2ImageBuilderArn`` = the
    build's ARN (Image Builder User Guide, "Tag Image Builder output resources"). moto's
    RegisterImage ignores TagSpecifications, so the tag is added with CreateTags."""
    ec2 = boto3.client(
        "ec2",
        endpoint_url=moto.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    image_id = str(
        ec2.register_image(
            Name="golden-1.2.0-1",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
    )
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "Ec2ImageBuilderArn", "Value": build}])
    return image_id


def test_a_rollback_succeeds_when_the_previous_build_was_deleted_since(
    world: Harness, history: StackHistory
) -> None:
    # DeleteImage "does not delete any EC2 AMIs" (Image Builder API reference): B1's
    # AMI outlives B1 and is found by its tag
    surviving_ami = register_ami(world.moto, build_arn("1.2.0/1"))

    def delete_first(image: Any) -> None:
        image.builds.pop(0)

    deploys = deploy_update_and_roll_back(world, history, delete_first)
    rolled_back = deploys.rolled_back
    assert rolled_back["Status"] == "SUCCESS"
    assert rolled_back["PhysicalResourceId"] == build_arn("1.2.0/1")
    # what the ARN tells survives, and the AMI comes from EC2
    assert rolled_back["Data"]["BuildVersion"] == "1.2.0/1"
    assert rolled_back["Data"]["ImageVersionArn"] == build_arn("1.2.0")
    assert rolled_back["Data"]["AmiId"] == surviving_ami
    assert set(rolled_back["Data"]) == set(deploys.created["Data"])


def test_a_rollback_succeeds_when_the_build_and_its_ami_are_gone(
    world: Harness, history: StackHistory
) -> None:
    def delete_first(image: Any) -> None:
        image.builds.pop(0)

    deploys = deploy_update_and_roll_back(world, history, delete_first)
    assert deploys.rolled_back["Status"] == "SUCCESS"
    assert deploys.rolled_back["PhysicalResourceId"] == build_arn("1.2.0/1")
    assert deploys.rolled_back["Data"]["AmiId"] == ""


def test_an_ordinary_update_still_resolves_anew(world: Harness, history: StackHistory) -> None:
    world.imagebuilder.add(NAME, "1.2.0")
    history.stack_status("UPDATE_IN_PROGRESS")
    updated = deliver(
        world, event(world, "Update", "Golden", physical_id=build_arn("1.1.0/1"), old_properties={})
    )
    assert updated["Status"] == "SUCCESS"
    assert updated["PhysicalResourceId"] == build_arn("1.2.0/1")
