"""Rollbacks: which build the stack had, read from CloudFormation's own record; never failing."""

from __future__ import annotations

import json

import pytest

from image_lookup.cloudformation_api import StackEvent
from image_lookup.handler import on_event
from image_lookup.rollback import pin_before_failed_update
from local_endpoints.imagebuilder import ACCOUNT, REGION, FakeImageBuilder
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext

STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/Stack/5b2a3c40"
STACK = "AWS::CloudFormation::Stack"
LOOKUP = "Custom::LatestImageBuild"
B1 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.0.0/1"
B2 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.0.0/2"
B3 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.0.0/3"


def stack_event(status: str) -> StackEvent:
    return StackEvent("Stack", STACK, status, STACK_ID)


def lookup_event(physical_id: str, status: str, logical_id: str = "BaseImage") -> StackEvent:
    return StackEvent(logical_id, LOOKUP, status, physical_id)


def newest_first(*events: StackEvent) -> list[StackEvent]:
    return list(reversed(events))


def test_the_pin_before_the_failed_update() -> None:
    events = newest_first(
        stack_event("CREATE_IN_PROGRESS"),
        lookup_event(B1, "CREATE_COMPLETE"),
        stack_event("CREATE_COMPLETE"),
        stack_event("UPDATE_IN_PROGRESS"),
        lookup_event(B2, "UPDATE_COMPLETE"),
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
    )
    assert pin_before_failed_update(events, STACK_ID, "BaseImage") == B1


def test_an_earlier_rolled_back_update_counts_as_what_the_stack_had() -> None:
    events = newest_first(
        lookup_event(B1, "CREATE_COMPLETE"),
        stack_event("UPDATE_IN_PROGRESS"),
        lookup_event(B2, "UPDATE_COMPLETE"),
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
        lookup_event(B1, "UPDATE_COMPLETE"),
        stack_event("UPDATE_ROLLBACK_COMPLETE"),
        stack_event("UPDATE_IN_PROGRESS"),
        lookup_event(B3, "UPDATE_COMPLETE"),
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
    )
    assert pin_before_failed_update(events, STACK_ID, "BaseImage") == B1


def test_a_nested_stack_resource_does_not_pass_for_the_stack() -> None:
    # a nested stack is a resource of type AWS::CloudFormation::Stack with its own ARN
    nested = StackEvent("Nested", STACK, "UPDATE_IN_PROGRESS", STACK_ID + "-nested")
    events = newest_first(
        lookup_event(B1, "CREATE_COMPLETE"),
        stack_event("UPDATE_IN_PROGRESS"),
        lookup_event(B2, "UPDATE_COMPLETE"),
        nested,
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
    )
    assert pin_before_failed_update(events, STACK_ID, "BaseImage") == B1


def test_other_lookups_and_unsettled_events_are_not_the_pin() -> None:
    events = newest_first(
        lookup_event(B1, "CREATE_COMPLETE"),
        lookup_event(B3, "CREATE_COMPLETE", logical_id="Other"),
        lookup_event("", "UPDATE_IN_PROGRESS"),
        stack_event("UPDATE_IN_PROGRESS"),
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
    )
    assert pin_before_failed_update(events, STACK_ID, "BaseImage") == B1
    assert pin_before_failed_update(events[:2], STACK_ID, "BaseImage") is None


@pytest.fixture
def rolling_back(fake: FakeImageBuilder, cloudformation_endpoint: str) -> str:
    """A stack in moto's CloudFormation whose update failed after the lookup moved to B2."""
    pytest.importorskip("moto")
    import requests

    from tests.support.stack_history import StackHistory

    requests.post(f"{cloudformation_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    history = StackHistory(cloudformation_endpoint, "Stack")
    history.stack_status("CREATE_IN_PROGRESS")
    history.resource("BaseImage", B1, "CREATE_COMPLETE")
    history.stack_status("UPDATE_IN_PROGRESS")
    history.resource("BaseImage", B2, "UPDATE_COMPLETE")
    history.stack_status("UPDATE_ROLLBACK_IN_PROGRESS")
    return history.stack_id


def rollback_event(stack_id: str) -> dict[str, object]:
    event = load_event("update", ImageName="golden")
    event.update(StackId=stack_id, PhysicalResourceId=B2)
    return event


def test_a_throttled_reread_still_rolls_back_to_the_previous_build(
    fake: FakeImageBuilder, rolling_back: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add("golden", "1.0.0", "AVAILABLE", "AVAILABLE")
    fake.always("GetImage", lambda _params: (429, {"__type": "ThrottlingException"}))
    # little time left: the re-read gives up, and the answer comes from the ARN
    answer = on_event(rollback_event(rolling_back), FakeLambdaContext(remaining_seconds=16))
    assert answer["PhysicalResourceId"] == B1
    assert answer["Data"]["BuildVersion"] == "1.0.0/1"
    assert answer["Data"]["AmiId"] == ""
    line = json.loads(caplog.records[-1].getMessage())
    assert line["outcome"] == "rolled back"
    assert line["previous_build"] == B1
    assert line["attributes_from_arn_only"].startswith("DeadlineExceededError")


def test_a_rollback_never_fails_on_properties_it_would_refuse_today(
    fake: FakeImageBuilder, rolling_back: str
) -> None:
    fake.add("golden", "1.0.0", "AVAILABLE", "AVAILABLE")
    event = rollback_event(rolling_back)
    # the last good template had a property this version refuses
    event["ResourceProperties"] = {
        "ImageName": "golden",
        "Owner": "Amazon",
        "IncludeDeprecated": "true",
    }
    answer = on_event(event, FakeLambdaContext())
    assert answer["PhysicalResourceId"] == B1
    assert answer["Data"]["AmiId"].startswith("ami-")


def test_an_update_of_a_stack_cloudformation_does_not_know_resolves_as_usual(
    fake: FakeImageBuilder,
) -> None:
    fake.add("golden", "1.0.0", "AVAILABLE", "AVAILABLE")
    answer = on_event(load_event("update", ImageName="golden"), FakeLambdaContext())
    assert answer["PhysicalResourceId"] == B2
