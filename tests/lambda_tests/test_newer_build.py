"""The newer-build evaluator's input and order, and the custom resource's cold start without it.

End to end (synthesized rules, the evaluator's asset under awslambdaric, moto's
EventBridge) is in ``tests/e2e_tests/test_newer_build.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from image_lookup.errors import InvalidInputError
from image_lookup.newer_build import Watch, build_version_of

#: The repository (not from tests.support.synth: these tests also run where aws-cdk-lib is not)
REPO = Path(__file__).resolve().parents[2]

PIN = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden-al2023/1.4.0/3"


def watch_input(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "Lookup": {
            "ImageName": "golden-al2023",
            "VersionSelector": "1.x.x",
            "Owner": "Self",
            "RequireTags": {"stage": "prod"},
            "MinAgeSeconds": "3600",
        },
        "PinnedBuildArn": PIN,
        "Stack": "Golden",
        "ConstructPath": "Golden/Lookup",
    }
    event.update(changes)
    return {key: value for key, value in event.items() if value is not None}


def test_the_input_is_the_lookups_properties_and_its_pin() -> None:
    watch = Watch(watch_input())
    assert watch.request.image_name == "golden-al2023"
    assert watch.request.selector.fixed == (1,)
    assert watch.request.gates.require_tags == (("stage", "prod"),)
    assert watch.request.gates.min_age_seconds == 3600
    assert watch.pinned == ((1, 4, 0), 3, "1.4.0/3")
    assert (watch.stack, watch.construct_path) == ("Golden", "Golden/Lookup")


def test_the_deploys_switches_are_not_the_evaluators() -> None:
    """Refreshing and protecting (tagging) the pin belong to the deploy."""
    lookup = {**watch_input()["Lookup"], "RefreshToken": "1", "ProtectPinnedBuild": "true"}
    assert Watch(watch_input(Lookup=lookup)).request.protect is False


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"Lookup": None}, "Lookup"),
        ({"Lookup": {"ImageName": "golden", "VersionSelector": "1.x"}}, "'1.x'"),
        ({"PinnedBuildArn": ""}, "PinnedBuildArn"),
        ({"PinnedBuildArn": "golden/1.4.0/3"}, "golden/1.4.0/3"),
        ({"PinnedBuildArn": PIN.rsplit("/", 1)[0]}, "does not end in a build version"),
        ({"ConstructPath": None}, "ConstructPath"),
    ],
)
def test_bad_input_is_named(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInputError, match=named.replace("(", r"\(")):
        Watch(watch_input(**changes))


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        ("1.10.0/1", "1.9.0/7"),  # numeric, not text, order
        ("1.4.0/10", "1.4.0/9"),
        ("2.0.0/1", "1.99.99/99"),
    ],
)
def test_builds_order_by_version_then_build_number(newer: str, older: str) -> None:
    def of(version: str) -> tuple[tuple[int, int, int], int]:
        parsed = build_version_of(f"arn:aws:imagebuilder:us-east-1:aws:image/x/{version}")
        return parsed.version, parsed.build

    assert of(newer) > of(older)


def test_leading_zeros_name_the_same_build() -> None:
    """The service keeps ``2019.12.03`` as written (AWS CLI list-images example)."""
    written = build_version_of("arn:aws:imagebuilder:us-east-1:aws:image/x/2019.12.03/1")
    assert (
        written[:2]
        == build_version_of("arn:aws:imagebuilder:us-east-1:aws:image/x/2019.12.3/1")[:2]
    )
    assert written.text == "2019.12.03/1"


def test_the_custom_resource_handler_does_not_load_the_evaluator() -> None:
    """The lookup's cold start stays as it was: no evaluator (its EventBridge calls are the
    pin reports', in events_api, loaded for protection)."""
    script = (
        "import json, sys, image_lookup.handler; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('image_lookup'))))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO / "lambda",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert "image_lookup.handler" in loaded
    assert not {"image_lookup.newer_build", "image_lookup.newer_build_event"} & set(loaded)


# ----- a factory's build event, forwarded to a workload account's bus ------------------------
#
# The sample is the Image Builder User Guide's "EC2 Image Builder Image State Change"
# (tests/events/imagebuilder_image_state_change.json): the factory 111122223333 emitted it,
# and its build ARN (``resources``) is that account's. Forwarded bus to bus it keeps its
# ``account`` (EventBridge User Guide, "Sending and receiving events between AWS accounts":
# the receiver's rules "match events that come from the sender account"). The trigger is
# what the rule's input transformer takes from it (``TRIGGER_PATHS``, also the construct's).

SAMPLE: dict[str, Any] = json.loads(
    (REPO / "tests" / "events" / "imagebuilder_image_state_change.json").read_text()
)
FACTORY = SAMPLE["account"]
SAMPLE_ARN = SAMPLE["resources"][0].lower()  # the service's ARNs are lowercase
WORKLOAD = "123456789012"  # the evaluator's own account (its function ARN)


def trigger_of(event: dict[str, Any]) -> dict[str, Any]:
    """What EventBridge's input transformer puts in ``Trigger``: each ``$.field`` of the event."""
    from image_lookup.newer_build_event import TRIGGER_PATHS

    return {key: event[path.removeprefix("$.")] for key, path in TRIGGER_PATHS.items()}


def factory_event(**changes: Any) -> dict[str, Any]:
    event = {**SAMPLE, "resources": [SAMPLE_ARN]}
    event.update(changes)
    return event


def shared_watch(event: dict[str, Any] | None, **lookup: Any) -> dict[str, Any]:
    """The workload's lookup of the factory's image, pinned to the sample's build."""
    properties = {
        "ImageName": SAMPLE_ARN.split("/")[1],
        "VersionSelector": "1.x.x",
        "Owner": "Shared",
        "ImageAccount": FACTORY,
        "Region": SAMPLE["region"],
        **lookup,
    }
    return watch_input(
        Lookup={k: v for k, v in properties.items() if v is not None},
        PinnedBuildArn=SAMPLE_ARN,
        Trigger=trigger_of(event) if event is not None else None,
    )


def test_the_trigger_is_the_events_account_region_and_build() -> None:
    watch = Watch(shared_watch(factory_event()))
    assert watch.trigger == (FACTORY, "us-west-2", SAMPLE_ARN)
    assert Watch(shared_watch(None)).trigger is None  # a scheduled run


@pytest.mark.parametrize(
    ("why", "event", "lookup", "ignored"),
    [
        ("the factory's build, forwarded", factory_event(), {}, False),
        ("another account of the organization", factory_event(account="444455556666"), {}, True),
        (
            "the factory's account with another account's build",
            factory_event(resources=[SAMPLE_ARN.replace(FACTORY, "444455556666")]),
            {},
            True,
        ),
        ("not an image build", factory_event(resources=["arn:aws:s3:::bucket"]), {}, True),
        (
            "an own image's event in the own account",
            factory_event(account=WORKLOAD, resources=[SAMPLE_ARN.replace(FACTORY, WORKLOAD)]),
            {"Owner": "Self", "ImageAccount": None, "Region": None},
            False,
        ),
        (
            "the factory's event for an own-image lookup",
            factory_event(),
            {"Owner": "Self", "ImageAccount": None, "Region": None},
            True,
        ),
    ],
)
def test_only_builds_of_the_images_account_are_taken(
    why: str, event: dict[str, Any], lookup: dict[str, Any], ignored: bool
) -> None:
    assert Watch(shared_watch(event, **lookup)).ignores(WORKLOAD) is ignored, why


@pytest.mark.parametrize(
    ("trigger", "named"),
    [
        ("111122223333", "must be an object"),
        ({"account": FACTORY, "region": "us-west-2"}, "resources must list the build's ARN"),
        ({"account": FACTORY, "resources": [SAMPLE_ARN]}, "account and region"),
    ],
)
def test_a_bad_trigger_is_named(trigger: Any, named: str) -> None:
    with pytest.raises(InvalidInputError, match=named):
        Watch({**shared_watch(None), "Trigger": trigger})


def test_the_evaluator_takes_the_factorys_event_and_resolves(fake: Any) -> None:
    """The forwarded event wakes a lookup of the factory's shared image (local Image Builder)."""
    from image_lookup.newer_build import Outcome, evaluate
    from tests.support.lambda_context import FakeLambdaContext

    fake.add(
        SAMPLE_ARN.split("/")[1], "1.0.0", owner="Shared", owner_account=FACTORY, region="us-west-2"
    )
    result = evaluate(shared_watch(factory_event()), FakeLambdaContext())
    assert result["outcome"] == Outcome.PINNED_IS_NEWEST  # it looked: the pin is the newest
    assert result["winner"] == SAMPLE_ARN
    assert (result["trigger"], result["trigger_account"]) == (SAMPLE_ARN, FACTORY)
    assert fake.count() > 0  # it asked Image Builder


def test_the_evaluator_ignores_another_accounts_event_without_a_call(fake: Any) -> None:
    from image_lookup.newer_build import Outcome, evaluate
    from tests.support.lambda_context import FakeLambdaContext

    event = factory_event(account="444455556666")
    result = evaluate(shared_watch(event), FakeLambdaContext())
    assert result["outcome"] == Outcome.IGNORED
    assert fake.count() == 0
