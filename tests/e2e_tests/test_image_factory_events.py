"""The factory's build events across accounts, against moto's EventBridge (server mode).

What each test holds:

* The factory's synthesized rule (``ImageFactoryEvents``) takes Image Builder's "EC2
  Image Builder Image State Change" to AVAILABLE in the factory account (Image Builder
  User Guide, "Event messages that Image Builder sends"; the guide's sample is
  ``tests/events/imagebuilder_image_state_change.json``, whose account 111122223333 is
  the factory here), and its synthesized targets (bus ARN and role) reach the workload
  account's default bus in the workload's region (cross-account, cross-Region bus
  targets: EventBridge User Guide, "Sending and receiving events between AWS accounts").
* The workload's synthesized rule (``on_newer_build()`` of ``owner=SHARED,
  image_account=<factory>``) matches the factory's event as it arrives and no event of
  another account (PutPermission: name "an account field with a specific account ID").
* The whole way: that event, input-transformed by the rule, wakes the workload's
  evaluator (its synthesized asset under awslambdaric), which resolves the shared image
  against the local Image Builder and announces the newer build on the workload bus.

moto keeps one backend per account; STS AssumeRole credentials act in the role's
account (moto's multi-account support). moto does not keep an event's ``account``
when a bus-to-bus target forwards it (it puts it again as the receiving account and
drops ``resources``), whereas EventBridge keeps the sender's: so the forwarded event
is handed to the workload bus's rules through moto's in-process backend, as
EventBridge delivers it. The tests that do so say so.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

import aws_cdk as cdk
import pytest

from constructs_lib import ImageFactoryEvents, ImageOwner, LatestImageBuild
from image_lookup.newer_build import Outcome
from local_endpoints.imagebuilder import FakeImageBuilder
from local_endpoints.lambda_service import LocalLambda
from local_endpoints.moto_services import ACCOUNT as WORKLOAD
from local_endpoints.moto_services import REGION as WORKLOAD_REGION
from local_endpoints.moto_services import MotoServices
from tests.support.cloudformation import DeployedStack
from tests.support.event_buses import Account
from tests.support.event_input import render_input
from tests.support.events import EVENTS
from tests.support.synth import synth_app

pytestmark = pytest.mark.synth

SAMPLE: dict[str, Any] = json.loads((EVENTS / "imagebuilder_image_state_change.json").read_text())
FACTORY: str = SAMPLE["account"]
FACTORY_REGION: str = SAMPLE["region"]  # the factory builds in us-west-2
SAMPLE_ARN: str = SAMPLE["resources"][0].lower()  # the service's ARNs are lowercase
NAME = SAMPLE_ARN.split("/")[1]
IMAGES = f"arn:aws:imagebuilder:{FACTORY_REGION}:{FACTORY}:image/{NAME}"
OTHER = "444455556666"  # another account of the organization
ORGANIZATION = "o-a1b2c3d4e5"
EVALUATOR_ENTRY = "image_lookup.newer_build.evaluate"


def build_app(app: cdk.App) -> None:
    """The factory in us-west-2 forwarding to the workload's us-east-1 bus; the workload."""
    factory_stack = cdk.Stack(
        app, "Factory", env=cdk.Environment(account=FACTORY, region=FACTORY_REGION)
    )
    factory = ImageFactoryEvents(
        factory_stack,
        "Events",
        organization_id=ORGANIZATION,
        target_accounts=[WORKLOAD],
        target_regions=[WORKLOAD_REGION],
    )
    workload = cdk.Stack(
        app, "Workload", env=cdk.Environment(account=WORKLOAD, region=WORKLOAD_REGION)
    )
    factory.allow_in(workload, "FactoryEvents")
    LatestImageBuild(
        workload,
        "Golden",
        image_name=NAME,
        version="1.x.x",
        owner=ImageOwner.SHARED,
        image_account=FACTORY,
        region=FACTORY_REGION,
    ).on_newer_build("Newer")


class Harness(NamedTuple):
    factory: DeployedStack
    workload: DeployedStack
    moto: MotoServices
    imagebuilder: FakeImageBuilder
    evaluator: LocalLambda


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    assembly = synth_app(tmp_path_factory.mktemp("factory") / "cdk.out", build_app)
    factory = DeployedStack(assembly, "Factory", {})
    workload = DeployedStack(assembly, "Workload", {})
    (evaluator_id,) = [
        f
        for f in workload.of_type("AWS::Lambda::Function")
        if workload.resources[f]["Properties"]["Handler"] == EVALUATOR_ENTRY
    ]
    moto = MotoServices().start()
    imagebuilder = FakeImageBuilder().start()
    evaluator = workload.run_function(
        evaluator_id,
        {**imagebuilder.client_environment(), "AWS_ENDPOINT_URL_EVENTBRIDGE": moto.url},
    )
    yield Harness(factory, workload, moto, imagebuilder, evaluator)
    evaluator.stop()
    imagebuilder.stop()
    moto.stop()


def deliver_to_workload_bus(event: dict[str, Any]) -> None:
    """Hand ``event`` to the workload default bus's rules as EventBridge delivers a
    cross-account event: as sent, its ``account`` kept (moto's in-process backend; moto's
    own bus-to-bus forwarding rewrites ``account``, see the module's docstring)."""
    bus = MotoServices.backend("events", WORKLOAD, WORKLOAD_REGION).event_buses["default"]
    for rule in list(bus.rules.values()):
        message = copy.deepcopy(event)
        # moto keeps an event's time as epoch seconds and writes it back as ISO 8601
        message["time"] = datetime.fromisoformat(event["time"]).timestamp()
        rule.send_to_targets(message, transform_input=False)  # queues: no transformer


def sample(**changes: Any) -> dict[str, Any]:
    """The guide's sample event (ARN lowercased) with fields changed."""
    event: dict[str, Any] = copy.deepcopy(SAMPLE)
    event["resources"] = [SAMPLE_ARN]
    status = changes.pop("status", None)
    if status is not None:
        event["detail"]["state"]["status"] = status
    event.update(changes)
    return event


def factory_rule(harness: Harness) -> dict[str, Any]:
    (rule_id,) = harness.factory.of_type("AWS::Events::Rule")
    properties: dict[str, Any] = harness.factory.resources[rule_id]["Properties"]
    return properties


def workload_image_rule(harness: Harness) -> dict[str, Any]:
    (properties,) = [
        harness.workload.resources[r]["Properties"]
        for r in harness.workload.of_type("AWS::Events::Rule")
        if harness.workload.resources[r]["Properties"].get("EventPattern", {}).get("source")
        == ["aws.imagebuilder"]
    ]
    return dict(properties)


def test_the_factory_rule_takes_the_factorys_available_builds(harness: Harness) -> None:
    harness.moto.reset()
    factory = Account(harness.moto, FACTORY, FACTORY_REGION)
    queue = factory.rule(harness.factory.resolve(factory_rule(harness)["EventPattern"]))
    factory.put(sample())
    factory.put(sample(status="TESTING"))  # not a build made available
    factory.put(sample(source="latest-image-build"))  # not Image Builder's
    assert [event["resources"] for event in factory.received(queue)] == [[SAMPLE_ARN]]


def test_its_targets_reach_the_workload_bus_in_the_workloads_region(harness: Harness) -> None:
    """The synthesized target (bus ARN and role) as PutTargets takes it, in the factory."""
    harness.moto.reset()
    factory = Account(harness.moto, FACTORY, FACTORY_REGION)
    workload = Account(harness.moto, WORKLOAD, WORKLOAD_REGION)
    heard = workload.rule({"source": ["aws.imagebuilder"]})
    (target,) = factory_rule(harness)["Targets"]
    (role_id, _) = target["RoleArn"]["Fn::GetAtt"]
    role_arn = f"arn:aws:iam::{FACTORY}:role/{harness.factory.physical_names[role_id]}"
    assert target["Arn"] == f"arn:aws:events:{WORKLOAD_REGION}:{WORKLOAD}:event-bus/default"
    factory.rule(
        harness.factory.resolve(factory_rule(harness)["EventPattern"]),
        [{"Id": target["Id"], "Arn": target["Arn"], "RoleArn": role_arn}],
    )
    factory.put(sample())
    (arrived,) = workload.received(heard)
    assert (arrived["source"], arrived["detail-type"]) == (SAMPLE["source"], SAMPLE["detail-type"])


@pytest.mark.parametrize(
    ("why", "event", "heard"),
    [
        ("the factory's build, forwarded", sample(), True),
        ("another account of the organization", sample(account=OTHER), False),
        (
            "another account's build of the same name",
            sample(account=OTHER, resources=[SAMPLE_ARN.replace(FACTORY, OTHER)]),
            False,
        ),
        ("the factory's other image", sample(resources=[f"{IMAGES}-x/1.0.0/1"]), False),
        ("the factory's build outside 1.x.x", sample(resources=[f"{IMAGES}/2.0.0/1"]), False),
        ("a build still testing", sample(status="TESTING"), False),
    ],
)
def test_the_workload_rule_hears_the_factory_only(
    harness: Harness, why: str, event: dict[str, Any], heard: bool
) -> None:
    """Delivered to the workload bus as EventBridge delivers a cross-account event (moto's
    backend: see the module's docstring)."""
    harness.moto.reset()
    workload = Account(harness.moto, WORKLOAD, WORKLOAD_REGION)
    queue = workload.rule(harness.workload.resolve(workload_image_rule(harness)["EventPattern"]))
    deliver_to_workload_bus(event)
    assert len(workload.received(queue)) == (1 if heard else 0), why


def test_the_workloads_own_put_of_a_factory_lookalike_is_not_heard(harness: Harness) -> None:
    """PutEvents in the workload account (moto's public API) stamps the workload's account."""
    harness.moto.reset()
    workload = Account(harness.moto, WORKLOAD, WORKLOAD_REGION)
    queue = workload.rule(harness.workload.resolve(workload_image_rule(harness)["EventPattern"]))
    workload.put(sample())
    assert workload.received(queue) == []


def test_the_factorys_event_wakes_the_evaluator_which_announces_the_newer_build(
    harness: Harness,
) -> None:
    """Factory event -> workload rule -> its input -> evaluator -> the lookup's rule."""
    harness.moto.reset()
    harness.imagebuilder.images.clear()
    shared = {"owner": "Shared", "owner_account": FACTORY, "region": FACTORY_REGION}
    pinned = harness.imagebuilder.add(NAME, "1.0.0", **shared)
    newer = harness.imagebuilder.add(NAME, "1.1.0", **shared)
    pinned_arn, newer_arn = pinned.build_arn(pinned.builds[0]), newer.build_arn(newer.builds[0])
    workload = Account(harness.moto, WORKLOAD, WORKLOAD_REGION)
    image_rule = workload_image_rule(harness)
    woken = workload.rule(harness.workload.resolve(image_rule["EventPattern"]))
    (newer_rule,) = [
        harness.workload.resources[r]["Properties"]
        for r in harness.workload.of_type("AWS::Events::Rule")
        if harness.workload.resources[r]["Properties"].get("EventPattern", {}).get("source")
        == ["latest-image-build"]
    ]
    announced = workload.rule(harness.workload.resolve(newer_rule["EventPattern"]))

    forwarded = sample(resources=[newer_arn])
    deliver_to_workload_bus(forwarded)
    assert len(workload.received(woken)) == 1  # the rule matched it
    (target,) = image_rule["Targets"]
    template = harness.workload.resolve(
        _deployed_pin(target["InputTransformer"]["InputTemplate"], pinned_arn)
    )
    payload = render_input(template, target["InputTransformer"]["InputPathsMap"], forwarded)
    body, error = harness.evaluator.invoke(
        harness.evaluator.function_arn, "Event", payload.encode()
    )
    assert error is None, (body, harness.evaluator.runtime_log.decode()[-3000:])
    result = json.loads(body)
    assert (result["outcome"], result["trigger"]) == (Outcome.NEWER, newer_arn)
    (announcement,) = workload.received(announced)
    assert announcement["detail"]["newerBuildArn"] == newer_arn
    assert announcement["detail"]["pinnedBuildArn"] == pinned_arn
    assert harness.imagebuilder.shape_violations == []


def _deployed_pin(value: Any, pinned_arn: str) -> Any:
    """The template with the pin's ``Fn::GetAtt`` as CloudFormation would have resolved it."""
    if isinstance(value, dict):
        if list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][1] == "ImageBuildVersionArn":
            return pinned_arn
        return {key: _deployed_pin(item, pinned_arn) for key, item in value.items()}
    if isinstance(value, list):
        return [_deployed_pin(item, pinned_arn) for item in value]
    return value
