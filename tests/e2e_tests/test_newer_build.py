"""``on_newer_build()`` end to end: its rules' patterns and its evaluator, on real matchers.

* Patterns: the synthesized rules go into moto's EventBridge (server mode,
  ``local_endpoints/moto_services.py``) with an SQS queue as target; events are put on
  the bus and a rule matched when its queue holds them. That is moto's own pattern
  matcher on the service's wire protocol. (moto 5.2.5 does not implement
  TestEventPattern: it answers with an empty body, so rules and PutEvents stand in.
  Real EventBridge refuses PutEvents with an ``aws.*`` source; moto lets Image
  Builder's event travel the path a delivered one takes.)
* Image Builder's event is the sample of the Image Builder User Guide, "Amazon
  EventBridge integration in Image Builder", "Event messages that Image Builder sends",
  "EC2 Image Builder Image State Change" (``tests/events/imagebuilder_image_state_change.json``).
  Its ARN's placeholder ``EXAMPLE22222`` is lowercased: the service's ARNs are, by the
  ``ImageBuildVersionArn`` pattern in botocore's ``imagebuilder`` model
  (``image/[a-z0-9-_]+/...``), and the guide says to replace placeholders.
* The evaluator runs from its synthesized asset under ``awslambdaric``
  (``local_endpoints/lambda_service.py``), invoked as EventBridge invokes it (type
  ``Event``) with the input its synthesized rule carries, against the local Image
  Builder; its PutEvents goes to moto, where the rule ``on_newer_build()`` returned
  (synthesized pattern, SQS target) shows what reached the bus.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import aws_cdk as cdk
import pytest

from constructs_lib import LatestImageBuild
from image_lookup.newer_build import Outcome
from local_endpoints.imagebuilder import ACCOUNT, REGION, FakeImageBuilder, FakeImageVersion
from local_endpoints.lambda_service import LocalLambda
from local_endpoints.moto_services import MotoServices
from tests.support.cloudformation import DeployedStack
from tests.support.event_buses import Account
from tests.support.event_input import render_input
from tests.support.events import EVENTS
from tests.support.synth import synth_app

pytestmark = pytest.mark.synth

SAMPLE = json.loads((EVENTS / "imagebuilder_image_state_change.json").read_text())
SAMPLE_ARN: str = SAMPLE["resources"][0].lower()
SAMPLE_NAME = SAMPLE_ARN.split("/")[1]  # cmkencryptedworkflowtest-a1b2c3d4-...-example22222
SAMPLE_IMAGES = f"arn:aws:imagebuilder:{SAMPLE['region']}:{SAMPLE['account']}:image"
PATTERNS_STACK = "SampleAccount"
EVALUATED_STACK = "Evaluated"
EVALUATOR_ENTRY = "image_lookup.newer_build.evaluate"
NAME = "golden-al2023"


def build_app(app: cdk.App) -> None:
    """Lookups whose rules meet the sample event, and two evaluated lookups."""
    sample = cdk.Stack(
        app,
        PATTERNS_STACK,
        env=cdk.Environment(account=SAMPLE["account"], region=SAMPLE["region"]),
    )
    for construct_id, selector in (
        ("Major", "1.x.x"),
        ("Any", "x.x.x"),
        ("Minor", "1.0.x"),
        ("Exact", "1.0.0"),
        ("OtherMajor", "2.x.x"),
    ):
        lookup = LatestImageBuild(sample, construct_id, image_name=SAMPLE_NAME, version=selector)
        lookup.on_newer_build("Newer")
    evaluated = cdk.Stack(app, EVALUATED_STACK, env=cdk.Environment(account=ACCOUNT, region=REGION))
    golden = LatestImageBuild(
        evaluated,
        "Golden",
        image_name=NAME,
        version="1.x.x",
        require_tags={"stage": "prod"},
        protect_pinned_build=True,  # the deploy's business: the evaluator never tags
    )
    golden.on_newer_build("Newer")
    sibling = LatestImageBuild(evaluated, "Sibling", image_name=NAME)
    sibling.on_newer_build("Newer")


class Harness(NamedTuple):
    patterns: DeployedStack
    evaluated: DeployedStack
    imagebuilder: FakeImageBuilder
    moto: MotoServices
    evaluator: LocalLambda


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    assembly = synth_app(tmp_path_factory.mktemp("newer") / "cdk.out", build_app)
    patterns = DeployedStack(assembly, PATTERNS_STACK, {})
    evaluated = DeployedStack(assembly, EVALUATED_STACK, {})
    (evaluator_id,) = [
        f
        for f in evaluated.of_type("AWS::Lambda::Function")
        if evaluated.resources[f]["Properties"]["Handler"] == EVALUATOR_ENTRY
    ]
    imagebuilder = FakeImageBuilder().start()
    moto = MotoServices().start()
    evaluator = evaluated.run_function(
        evaluator_id,
        {**imagebuilder.client_environment(), "AWS_ENDPOINT_URL_EVENTBRIDGE": moto.url},
    )
    yield Harness(patterns, evaluated, imagebuilder, moto, evaluator)
    evaluator.stop()
    moto.stop()
    imagebuilder.stop()


def rule_of(stack: DeployedStack, construct_path: str, source: str) -> dict[str, Any]:
    """The synthesized rule for ``construct_path`` whose pattern matches ``source``.

    The lookup's own rule names it in its pattern; the evaluator's trigger in its input.
    """
    for resource in stack.resources.values():
        properties = resource["Properties"]
        pattern = properties.get("EventPattern") or {}
        if resource["Type"] != "AWS::Events::Rule" or pattern.get("source") != [source]:
            continue
        named = pattern.get("detail", {}).get("constructPath") == [construct_path]
        inputs = [
            target_input(stack, target, "(pin)", SAMPLE) for target in properties.get("Targets", [])
        ]
        if named or any(json.loads(i)["ConstructPath"] == construct_path for i in inputs):
            return dict(properties)
    raise LookupError(f"no {source} rule for {construct_path}")


def target_input(
    stack: DeployedStack, target: dict[str, Any], pinned_arn: str, event: dict[str, Any]
) -> str:
    """What EventBridge hands ``target`` for ``event``, the pin deployed as ``pinned_arn``."""
    transformer = target.get("InputTransformer")
    template = transformer["InputTemplate"] if transformer else target["Input"]
    text: str = stack.resolve(_deployed_pin(template, pinned_arn))
    return render_input(text, transformer["InputPathsMap"], event) if transformer else text


def sample_with(resource: str | None = None, status: str | None = None) -> dict[str, Any]:
    """The guide's sample event, its ARN lowercased, with ``resource`` or ``status`` changed."""
    event: dict[str, Any] = copy.deepcopy(SAMPLE)
    event["resources"] = [resource or SAMPLE_ARN]
    if status is not None:
        event["detail"]["state"]["status"] = status
    return event


def image_rule_hears(harness: Harness, construct_id: str, event: dict[str, Any]) -> bool:
    harness.moto.reset()
    bus = Account(harness.moto, ACCOUNT, REGION)
    path = f"{PATTERNS_STACK}/{construct_id}"
    queue = bus.rule(rule_of(harness.patterns, path, "aws.imagebuilder")["EventPattern"])
    bus.put(event)
    return len(bus.received(queue)) == 1


def test_the_guides_sample_event_reaches_the_lookups_rule(harness: Harness) -> None:
    assert image_rule_hears(harness, "Major", sample_with())


@pytest.mark.parametrize(
    ("why", "event"),
    [
        ("another image", sample_with(f"{SAMPLE_IMAGES}/other-image/1.0.0/1")),
        ("a name that starts the same", sample_with(f"{SAMPLE_IMAGES}/{SAMPLE_NAME}-x/1.0.0/1")),
        ("another major version", sample_with(f"{SAMPLE_IMAGES}/{SAMPLE_NAME}/2.0.0/1")),
        (
            "a major version that starts the same",
            sample_with(f"{SAMPLE_IMAGES}/{SAMPLE_NAME}/10.0.0/1"),
        ),
        (
            "another account's image",
            sample_with(SAMPLE_ARN.replace("111122223333", "444455556666")),
        ),
        ("a FAILED build", sample_with(status="FAILED")),
        ("a build still testing", sample_with(status="TESTING")),
    ],
)
def test_other_events_do_not_reach_it(harness: Harness, why: str, event: dict[str, Any]) -> None:
    assert not image_rule_hears(harness, "Major", event), why


@pytest.mark.parametrize(
    ("construct_id", "version", "heard"),
    [
        ("Any", "7.3.1", True),
        ("Minor", "1.0.5", True),
        ("Minor", "1.1.0", False),
        ("Minor", "1.00.5", False),  # written otherwise: left to the schedule
        ("Exact", "1.0.0", True),
        ("Exact", "1.0.01", False),
        ("OtherMajor", "1.0.0", False),
        ("OtherMajor", "2.4.0", True),
    ],
)
def test_the_selectors_fixed_part_narrows_the_rule(
    harness: Harness, construct_id: str, version: str, heard: bool
) -> None:
    event = sample_with(f"{SAMPLE_IMAGES}/{SAMPLE_NAME}/{version}/3")
    assert image_rule_hears(harness, construct_id, event) is heard


# ----- the evaluator -----------------------------------------------------------------------


class Evaluation(NamedTuple):
    result: dict[str, Any]
    golden_events: list[dict[str, Any]]
    sibling_events: list[dict[str, Any]]


def evaluate(harness: Harness, pinned_arn: str, event: dict[str, Any] | None = None) -> Evaluation:
    """Invoke the evaluator with the Golden lookup's scheduled input, pinned to ``pinned_arn``;
    with ``event``, the input Golden's Image Builder rule makes of that event instead.

    The rules ``on_newer_build()`` returned for Golden and Sibling listen on moto's bus.
    """
    harness.moto.reset()
    bus = Account(harness.moto, ACCOUNT, REGION)
    stack = harness.evaluated
    golden_queue = bus.rule(
        rule_of(stack, f"{EVALUATED_STACK}/Golden", "latest-image-build")["EventPattern"]
    )
    sibling_queue = bus.rule(
        rule_of(stack, f"{EVALUATED_STACK}/Sibling", "latest-image-build")["EventPattern"]
    )
    golden = f"{EVALUATED_STACK}/Golden"
    if event is None:
        payload = scheduled_input(stack, golden, pinned_arn)
    else:
        (target,) = rule_of(stack, golden, "aws.imagebuilder")["Targets"]
        payload = target_input(stack, target, pinned_arn, event)
    body, error = harness.evaluator.invoke(
        harness.evaluator.function_arn, "Event", payload.encode()
    )
    assert error is None, (body, harness.evaluator.runtime_log.decode()[-3000:])
    return Evaluation(json.loads(body), bus.received(golden_queue), bus.received(sibling_queue))


def scheduled_input(stack: DeployedStack, construct_path: str, pinned_arn: str) -> str:
    """The input the lookup's schedule rule sends the evaluator, as deployed."""
    for resource in stack.resources.values():
        for target in resource["Properties"].get("Targets", []):
            if "ScheduleExpression" in resource["Properties"]:
                text: str = stack.resolve(_deployed_pin(target["Input"], pinned_arn))
                if json.loads(text)["ConstructPath"] == construct_path:
                    return text
    raise LookupError(f"no schedule rule for {construct_path}")


def _deployed_pin(value: Any, pinned_arn: str) -> Any:
    """The input with the pin's ``Fn::GetAtt`` as CloudFormation would have resolved it."""
    if isinstance(value, dict):
        if list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][1] == "ImageBuildVersionArn":
            return pinned_arn
        return {key: _deployed_pin(item, pinned_arn) for key, item in value.items()}
    if isinstance(value, list):
        return [_deployed_pin(item, pinned_arn) for item in value]
    return value


@pytest.fixture
def images(harness: Harness) -> Iterator[FakeImageBuilder]:
    """The local Image Builder, emptied: golden 1.0.0/1 (promoted) is what the stack pins."""
    harness.imagebuilder.images.clear()
    pinned = harness.imagebuilder.add(NAME, "1.0.0")
    pinned.builds[0].tags = {"stage": "prod"}
    yield harness.imagebuilder
    assert harness.imagebuilder.shape_violations == []


def pinned_arn(images: FakeImageBuilder) -> str:
    first = images.images[0]
    return first.build_arn(first.builds[0])


def test_a_newer_qualifying_build_is_announced_once(
    images: FakeImageBuilder, harness: Harness
) -> None:
    newer: FakeImageVersion = images.add(NAME, "1.1.0", "FAILED", "AVAILABLE")
    newer.builds[1].tags = {"stage": "prod"}
    images.add(NAME, "2.0.0").builds[0].tags = {"stage": "prod"}  # outside 1.x.x
    evaluation = evaluate(harness, pinned_arn(images))

    assert evaluation.result["outcome"] == Outcome.NEWER
    assert evaluation.sibling_events == []  # the event names one lookup
    (event,) = evaluation.golden_events
    newer_arn = newer.build_arn(newer.builds[1])
    assert (event["source"], event["detail-type"]) == (
        "latest-image-build",
        "Newer Image Build Available",
    )
    assert event["resources"] == [newer_arn]
    ami = newer.image(newer.builds[1])["outputResources"]["amis"][0]["image"]
    assert event["detail"] == {
        "stack": EVALUATED_STACK,
        "constructPath": f"{EVALUATED_STACK}/Golden",
        "imageName": NAME,
        "pinnedBuildArn": pinned_arn(images),
        "pinnedBuildVersion": "1.0.0/1",
        "newerBuildArn": newer_arn,
        "newerBuildVersion": "1.1.0/2",
        "region": REGION,
        "amiId": ami,
        "containerImageUri": "",
        "dateCreated": newer.builds[1].date_created,
    }


def test_a_newer_build_that_fails_a_gate_is_not_announced(
    images: FakeImageBuilder, harness: Harness
) -> None:
    images.add(NAME, "1.1.0").builds[0].tags = {"stage": "dev"}  # not promoted
    evaluation = evaluate(harness, pinned_arn(images))
    assert evaluation.result["outcome"] == Outcome.PINNED_IS_NEWEST
    assert evaluation.golden_events == evaluation.sibling_events == []


def test_the_pinned_build_itself_is_not_announced(
    images: FakeImageBuilder, harness: Harness
) -> None:
    evaluation = evaluate(harness, pinned_arn(images))
    assert evaluation.result["outcome"] == Outcome.PINNED_IS_NEWEST
    assert evaluation.result["winner"] == pinned_arn(images)
    assert evaluation.golden_events == []


def test_no_qualifying_build_is_an_answer_not_a_failure(
    images: FakeImageBuilder, harness: Harness
) -> None:
    images.images[0].builds[0].tags = {}  # the pinned build was demoted, nothing else qualifies
    evaluation = evaluate(harness, pinned_arn(images))
    assert evaluation.result["outcome"] == Outcome.NO_QUALIFYING_BUILD
    assert "lacks stage=prod" in evaluation.result["reason"]
    assert evaluation.golden_events == []


def test_the_evaluator_only_reads_image_builder(images: FakeImageBuilder, harness: Harness) -> None:
    """Golden protects its pin; protecting (tagging) is the deploy's job, never the evaluator's."""
    images.add(NAME, "1.1.0").builds[0].tags = {"stage": "prod"}
    images.calls.clear()
    evaluate(harness, pinned_arn(images))
    assert set(images.counts()) <= {"ListImages", "GetImage", "ListImageBuildVersions"}
    assert images.count() > 0


def own_build_event(build_arn: str, account: str = ACCOUNT) -> dict[str, Any]:
    """The guide's sample event as Image Builder would send it for ``build_arn``."""
    return {**sample_with(build_arn), "account": account, "region": REGION}


def test_an_image_builder_event_wakes_the_evaluator_with_its_build(
    images: FakeImageBuilder, harness: Harness
) -> None:
    """The rule's input transformer hands the event's account, region and build along."""
    newer = images.add(NAME, "1.1.0")
    newer.builds[0].tags = {"stage": "prod"}
    newer_arn = newer.build_arn(newer.builds[0])
    evaluation = evaluate(harness, pinned_arn(images), own_build_event(newer_arn))
    assert evaluation.result["outcome"] == Outcome.NEWER
    assert evaluation.result["trigger"] == newer_arn
    assert [event["resources"] for event in evaluation.golden_events] == [[newer_arn]]


def test_an_event_of_another_accounts_build_is_ignored_without_a_call(
    images: FakeImageBuilder, harness: Harness
) -> None:
    """Had a rule let it through, the evaluator still takes only the image's account's builds."""
    newer = images.add(NAME, "1.1.0")
    newer.builds[0].tags = {"stage": "prod"}
    images.calls.clear()
    other = newer.build_arn(newer.builds[0]).replace(ACCOUNT, "444455556666")
    evaluation = evaluate(harness, pinned_arn(images), own_build_event(other, "444455556666"))
    assert evaluation.result["outcome"] == Outcome.IGNORED
    assert evaluation.golden_events == []
    assert images.count() == 0
