"""Rollbacks: which build the stack had, read from CloudFormation's own record; never failing.

The README (Rollbacks) promises that an Update during ``UPDATE_ROLLBACK_IN_PROGRESS``
answers with exactly the build the stack had before the failed update, and that a rollback
never fails because of the lookup. The handler's CloudFormation reads go through real boto3
to ``local_endpoints/cloudformation.py``, which pages DescribeStackEvents at 100 events,
newest first, and throttles as CloudFormation does (``Throttling``, HTTP 400, in botocore's
standard retry list). Image Builder is ``local_endpoints/imagebuilder.py``; EC2 is moto.

A rollback request is what CloudFormation sends (User Guide, custom resource request
objects): ``ResourceProperties`` of the last good template, ``OldResourceProperties`` of the
failed one, and the physical id the failed update gave (B2).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from image_lookup import handler, rollback
from image_lookup.cloudformation_api import StackEvent
from image_lookup.contract import HANDLER_TIMEOUT_SECONDS
from image_lookup.deadline import Deadline
from image_lookup.errors import DeadlineExceededError
from image_lookup.handler import on_event
from image_lookup.rollback import read_events, rollback_marks, says_ordinary
from local_endpoints.cloudformation import PAGE_SIZE, FakeCloudFormation, FakeStack
from local_endpoints.imagebuilder import ACCOUNT, REGION, FakeImageBuilder
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext

STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/Stack/5b2a3c40"
STACK = "AWS::CloudFormation::Stack"
LOOKUP = "Custom::LatestImageBuild"
B1 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.0.0/1"
B2 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.0.0/2"
B3 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.0.0/3"
#: RefreshTokens as the construct writes them by default: the synth time in nanoseconds.
GOOD_SYNTH = "1733000000000000000"
FAILED_SYNTH = "1733000600000000000"


def stack_event(status: str) -> StackEvent:
    return StackEvent("Stack", STACK, status, STACK_ID)


def lookup_event(physical_id: str, status: str, logical_id: str = "BaseImage") -> StackEvent:
    return StackEvent(logical_id, LOOKUP, status, physical_id)


def newest_first(*events: StackEvent) -> list[StackEvent]:
    return list(reversed(events))


def previous_build(
    events: Iterable[StackEvent], stack_id: str, logical_id: str, current: str = ""
) -> str | None:
    """B1 as a rollback whose status was read tells it from the events (newest first)."""
    return read_events(events, stack_id, logical_id, current).previous


def test_the_pin_before_the_failed_update() -> None:
    events = newest_first(
        stack_event("CREATE_IN_PROGRESS"),
        lookup_event(B1, "CREATE_COMPLETE"),
        stack_event("CREATE_COMPLETE"),
        stack_event("UPDATE_IN_PROGRESS"),
        lookup_event(B2, "UPDATE_COMPLETE"),
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
    )
    assert previous_build(events, STACK_ID, "BaseImage") == B1


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
    assert previous_build(events, STACK_ID, "BaseImage") == B1


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
    assert previous_build(events, STACK_ID, "BaseImage") == B1


def test_other_lookups_and_unsettled_events_are_not_the_pin() -> None:
    events = newest_first(
        lookup_event(B1, "CREATE_COMPLETE"),
        lookup_event(B3, "CREATE_COMPLETE", logical_id="Other"),
        lookup_event("", "UPDATE_IN_PROGRESS"),
        stack_event("UPDATE_IN_PROGRESS"),
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
    )
    assert previous_build(events, STACK_ID, "BaseImage") == B1
    assert previous_build(events[:2], STACK_ID, "BaseImage") is None


def test_the_update_names_the_pin_it_began_with() -> None:
    def events() -> Iterator[StackEvent]:
        yield lookup_event(B2, "UPDATE_IN_PROGRESS")  # the rollback's
        yield stack_event("UPDATE_ROLLBACK_IN_PROGRESS")
        yield lookup_event(B2, "UPDATE_COMPLETE")
        yield lookup_event(B1, "UPDATE_IN_PROGRESS")  # written before the Update was sent
        raise AssertionError("read past the update's own event")

    assert previous_build(events(), STACK_ID, "BaseImage", current=B2) == B1


def test_a_continued_rollback_takes_the_oldest_event_of_the_update() -> None:
    # the first rollback restored B1, another resource failed, ContinueUpdateRollback
    events = newest_first(
        lookup_event(B1, "CREATE_COMPLETE"),
        stack_event("UPDATE_IN_PROGRESS"),
        lookup_event(B1, "UPDATE_IN_PROGRESS"),
        lookup_event(B2, "UPDATE_COMPLETE"),
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
        lookup_event(B2, "UPDATE_IN_PROGRESS"),
        lookup_event(B1, "UPDATE_COMPLETE"),
        stack_event("UPDATE_ROLLBACK_FAILED"),
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
        lookup_event(B1, "UPDATE_IN_PROGRESS"),
    )
    assert previous_build(events, STACK_ID, "BaseImage", current=B1) == B1


def test_a_lookup_the_update_did_not_move_keeps_its_pin() -> None:
    events = newest_first(
        lookup_event(B1, "CREATE_COMPLETE"),
        stack_event("UPDATE_IN_PROGRESS"),
        lookup_event(B1, "UPDATE_IN_PROGRESS"),
        lookup_event(B1, "UPDATE_COMPLETE"),
        stack_event("UPDATE_ROLLBACK_IN_PROGRESS"),
        lookup_event(B1, "UPDATE_IN_PROGRESS"),
    )
    assert previous_build(events, STACK_ID, "BaseImage", current=B1) == B1


def test_the_events_are_read_no_further_than_the_pin() -> None:
    def events() -> Iterator[StackEvent]:
        yield stack_event("UPDATE_IN_PROGRESS")
        yield lookup_event(B1, "UPDATE_COMPLETE")
        raise AssertionError("read past the pin")

    assert previous_build(events(), STACK_ID, "BaseImage") == B1


# ----- the marks of a rollback, in the request alone --------------------------------------


def request(
    *,
    physical_id: str = B2,
    token: str | None = GOOD_SYNTH,
    old_token: str | None = FAILED_SYNTH,
    **properties: Any,
) -> dict[str, Any]:
    """An Update as CloudFormation sends it in a rollback (by default): the good template's
    properties, the failed template's as the old ones, the failed update's physical id."""
    event = load_event("update", ImageName="golden", RefreshToken=token, **properties)
    event["OldResourceProperties"] = {
        key: value for key, value in event["ResourceProperties"].items() if key != "RefreshToken"
    }
    if old_token is not None:
        event["OldResourceProperties"]["RefreshToken"] = old_token
    event["PhysicalResourceId"] = physical_id
    return event


def test_a_refresh_token_that_went_back_marks_a_rollback() -> None:
    # the construct's default token is the synth time: a rollback restores an older synth
    assert rollback_marks(request()) == (
        f"RefreshToken went back from {FAILED_SYNTH} to {GOOD_SYNTH}",
    )
    ordinary = request(token=FAILED_SYNTH, old_token=GOOD_SYNTH)
    assert rollback_marks(ordinary) == ()
    assert says_ordinary(ordinary)
    assert not says_ordinary(request())


def test_tokens_that_are_not_numbers_mark_nothing() -> None:
    # refresh_token is the user's free text when refresh_on_every_deploy=False
    event = request(token="release-7", old_token="release-8")
    assert rollback_marks(event) == ()
    assert not says_ordinary(event)
    assert rollback_marks(request(token=None, old_token=None)) == ()


def test_properties_todays_code_refuses_mark_a_rollback_of_a_resource_that_has_a_pin() -> None:
    event = request(token=None, old_token=None, Owner="Amazon", IncludeDeprecated="true")
    (mark,) = rollback_marks(event)
    assert mark.startswith("properties refused: ")
    # no pin yet: nothing to roll back to, so a refused property is the user's to fix
    assert rollback_marks({**event, "PhysicalResourceId": ""}) == ()


# ----- against the endpoints ------------------------------------------------------------


@pytest.fixture
def cloudformation(
    fake: FakeImageBuilder, cloudformation_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeCloudFormation]:
    """The local CloudFormation endpoint in place of moto's; EC2 stays moto's (or closed)."""
    service = FakeCloudFormation().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", service.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", cloudformation_endpoint)
    fake.add("golden", "1.0.0", "AVAILABLE", "AVAILABLE")  # B1 and B2
    yield service
    service.stop()


def created_with_b1(cloudformation: FakeCloudFormation) -> FakeStack:
    stack = cloudformation.add_stack("Stack")
    stack.stack_status("CREATE_IN_PROGRESS")
    stack.resource("BaseImage", "", "CREATE_IN_PROGRESS")
    stack.resource("BaseImage", B1, "CREATE_COMPLETE")
    stack.stack_status("CREATE_COMPLETE")
    return stack


def failed_update(stack: FakeStack, in_progress_id: str = B1) -> None:
    """The lookup moved to B2, a later resource failed, the rollback began."""
    stack.stack_status("UPDATE_IN_PROGRESS")
    stack.resource("BaseImage", in_progress_id, "UPDATE_IN_PROGRESS")
    stack.resource("BaseImage", B2, "UPDATE_COMPLETE")
    stack.resource("Fleet", "fleet", "UPDATE_FAILED", "AWS::AutoScaling::AutoScalingGroup")
    stack.stack_status("UPDATE_ROLLBACK_IN_PROGRESS")
    stack.resource("BaseImage", B2, "UPDATE_IN_PROGRESS")


@pytest.fixture
def rolling_back(cloudformation: FakeCloudFormation) -> FakeStack:
    stack = created_with_b1(cloudformation)
    failed_update(stack)
    return stack


def send(
    event: dict[str, Any], stack: FakeStack, remaining_seconds: float = HANDLER_TIMEOUT_SECONDS
) -> Any:
    return on_event({**event, "StackId": stack.stack_id}, FakeLambdaContext(remaining_seconds))


def last_line(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    ours = [record for record in caplog.records if record.name == "image_lookup"]
    line: dict[str, Any] = json.loads(ours[-1].getMessage())
    return line


@pytest.mark.parametrize(
    ("tokens", "status_reads"),
    [((GOOD_SYNTH, FAILED_SYNTH), 0), (("release-7", "release-8"), 1)],
    ids=["token went back: the events alone tell", "no mark: the status tells"],
)
def test_a_rollback_answers_with_the_build_the_stack_had(
    fake: FakeImageBuilder,
    cloudformation: FakeCloudFormation,
    rolling_back: FakeStack,
    tokens: tuple[str, str],
    status_reads: int,
) -> None:
    token, old_token = tokens
    answer = send(request(token=token, old_token=old_token), rolling_back)
    assert answer["PhysicalResourceId"] == B1
    assert answer["Data"]["BuildVersion"] == "1.0.0/1"
    assert answer["Data"]["AmiId"].startswith("ami-")
    assert fake.count("ListImages") == 0  # restored, not resolved
    assert cloudformation.count("DescribeStacks") == status_reads
    assert cloudformation.count("DescribeStackEvents") == 1


@pytest.mark.parametrize(
    "tokens",
    [("release-7", "release-8"), (None, None)],
    ids=["refresh_token given", "no token"],
)
def test_a_status_read_throttled_twice_still_rolls_back(
    fake: FakeImageBuilder,
    cloudformation: FakeCloudFormation,
    rolling_back: FakeStack,
    tokens: tuple[str | None, str | None],
) -> None:
    """README, Rollbacks: exactly the build the stack had, also when DescribeStacks throttles
    (issue 20 §1)."""
    # a 200-lookup stack rolls every lookup back at once: throttling is the normal case
    cloudformation.fail_next("DescribeStacks", 2)
    token, old_token = tokens
    answer = send(request(token=token, old_token=old_token), rolling_back)
    assert answer["PhysicalResourceId"] == B1
    assert cloudformation.count("DescribeStacks") == 3
    assert fake.count("ListImages") == 0


def test_an_events_read_throttled_twice_still_rolls_back(
    cloudformation: FakeCloudFormation, rolling_back: FakeStack
) -> None:
    """README, Rollbacks: the events give B1 also when DescribeStackEvents throttles."""
    cloudformation.fail_next("DescribeStackEvents", 2)
    answer = send(request(), rolling_back)
    assert answer["PhysicalResourceId"] == B1
    assert cloudformation.count("DescribeStackEvents") == 3


@pytest.mark.parametrize(
    ("in_progress_id", "pages"),
    [(B1, 1), ("", 27)],
    ids=["from the update's own event", "from the last completed change"],
)
def test_a_pin_more_than_twenty_pages_back_is_found(
    fake: FakeImageBuilder,
    cloudformation: FakeCloudFormation,
    caplog: pytest.LogCaptureFixture,
    in_progress_id: str,
    pages: int,
) -> None:
    """README, Rollbacks: B1 however far back its event is (DescribeStackEvents pages)."""
    # created with B1, then 520 deploys of other resources (refresh_on_every_deploy=False:
    # the lookup is not updated), then a deploy that moved it to B2 and failed
    stack = created_with_b1(cloudformation)
    for deploy in range(520):
        stack.stack_status("UPDATE_IN_PROGRESS")
        stack.resource("Queue", f"queue-{deploy}", "UPDATE_IN_PROGRESS", "AWS::SQS::Queue")
        stack.resource("Queue", f"queue-{deploy}", "UPDATE_COMPLETE", "AWS::SQS::Queue")
        stack.stack_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        stack.stack_status("UPDATE_COMPLETE")
    # the update's UPDATE_IN_PROGRESS of the lookup names B1; without it, all is paged
    failed_update(stack, in_progress_id)
    assert len(stack.events) > 2_600
    answer = send(request(token="release-1", old_token="release-2"), stack)
    assert answer["PhysicalResourceId"] == B1
    assert cloudformation.count("DescribeStackEvents") == pages
    assert pages == 1 or pages == len(stack.events) // PAGE_SIZE + 1 > 20
    assert last_line(caplog)["previous_build"] == B1


def test_events_never_read_keep_the_build_when_the_request_marks_a_rollback(
    fake: FakeImageBuilder,
    cloudformation: FakeCloudFormation,
    rolling_back: FakeStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """README, Rollbacks: a rollback never fails and never resolves afresh, even unread."""
    cloudformation.fail_next("DescribeStackEvents", 10_000)
    # the reads get what is left once the answer's time is set aside: ~8 s here
    answer = send(request(), rolling_back, remaining_seconds=38)
    # the physical id it has, never a fresh resolution
    assert answer["PhysicalResourceId"] == B2
    assert answer["Data"]["ImageBuildVersionArn"] == B2
    assert answer["Data"]["AmiId"].startswith("ami-")
    assert fake.count("ListImages") == 0
    assert cloudformation.count("DescribeStacks") == 0
    line = last_line(caplog)
    assert line["outcome"] == "kept build"
    assert line["events_unread"].startswith("DeadlineExceededError")
    assert line["rollback_marks"] == [f"RefreshToken went back from {FAILED_SYNTH} to {GOOD_SYNTH}"]


def test_refused_properties_never_fail_a_rollback_whose_events_are_never_read(
    fake: FakeImageBuilder, cloudformation: FakeCloudFormation, rolling_back: FakeStack
) -> None:
    cloudformation.fail_next("DescribeStackEvents", 10_000)
    # the last good template had properties this version refuses, and no numeric token
    event = request(token="release-7", old_token="release-8", Owner="Amazon")
    event["ResourceProperties"]["IncludeDeprecated"] = "true"
    answer = send(event, rolling_back, remaining_seconds=38)
    assert answer["PhysicalResourceId"] == B2
    assert fake.count("ListImages") == 0


def test_a_token_that_went_back_in_an_ordinary_update_resolves_afresh(
    fake: FakeImageBuilder, cloudformation: FakeCloudFormation, caplog: pytest.LogCaptureFixture
) -> None:
    """README, Rollbacks: deploying an older cloud assembly is an ordinary deploy."""
    stack = created_with_b1(cloudformation)
    stack.stack_status("UPDATE_IN_PROGRESS")  # the newest stack-level event: no rollback
    stack.resource("BaseImage", B1, "UPDATE_IN_PROGRESS")
    answer = send(request(physical_id=B1), stack)
    assert answer["PhysicalResourceId"] == B2  # the newest build
    assert last_line(caplog)["outcome"] == "resolved"
    # the events tell it; the status confirms it (a rollback's first event could lag)
    assert cloudformation.count("DescribeStacks") == 1
    assert cloudformation.count("DescribeStackEvents") == 1


@pytest.mark.parametrize("status_reads", ["UPDATE_ROLLBACK_IN_PROGRESS", None])
def test_events_that_disagree_with_a_marked_request_keep_the_build(
    fake: FakeImageBuilder,
    cloudformation: FakeCloudFormation,
    caplog: pytest.LogCaptureFixture,
    status_reads: str | None,
) -> None:
    """A rollback never resolves afresh: when the events show no rollback yet but the
    status does (or cannot be read), the marked Update keeps the build it has."""
    stack = created_with_b1(cloudformation)
    stack.stack_status("UPDATE_IN_PROGRESS")
    stack.resource("BaseImage", B2, "UPDATE_COMPLETE")
    if status_reads:
        stack.status = status_reads  # the status moved on; its event is not listed yet
    else:
        cloudformation.fail_next("DescribeStacks", 10_000)
    answer = send(request(), stack, remaining_seconds=60)
    assert answer["PhysicalResourceId"] == B2
    assert fake.count("ListImages") == 0
    assert last_line(caplog)["outcome"] == "kept build"


@pytest.mark.parametrize("region", [None, "not a region"])
def test_a_rollback_whose_cloudformation_client_cannot_be_made_keeps_the_build(
    fake: FakeImageBuilder,
    rolling_back: FakeStack,
    region: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README, Rollbacks: a rollback never fails because of the lookup, even when no
    CloudFormation client can be made for the stack's region."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    answer = rollback.rollback_answer(
        {**request(), "StackId": rolling_back.stack_id},
        Deadline(budget_seconds=30),
        deploy_region=region,
        account_id=ACCOUNT,
    )
    assert answer is not None
    assert answer["PhysicalResourceId"] == B2


def test_an_ordinary_update_told_by_slow_events_still_has_a_lookups_time(
    fake: FakeImageBuilder,
    cloudformation: FakeCloudFormation,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README, Rollbacks: telling a marked Update's events may take a rollback's time; a
    lookup that turns out ordinary then still has its own time (ORDINARY_WORK_SECONDS)."""
    stack = created_with_b1(cloudformation)
    stack.stack_status("UPDATE_IN_PROGRESS")
    stack.resource("BaseImage", B1, "UPDATE_IN_PROGRESS")
    # room for one Image Builder attempt (13 s), not once the events took 2 s of it
    monkeypatch.setattr(handler, "ORDINARY_WORK_SECONDS", 14.0)
    read_events = rollback.read_events

    def slowly(*args: Any, **kwargs: Any) -> rollback.EventsReading:
        time.sleep(2.0)  # pages read under CloudFormation's rate limit
        return read_events(*args, **kwargs)

    monkeypatch.setattr(rollback, "read_events", slowly)
    answer = send(request(physical_id=B1), stack)
    assert answer["PhysicalResourceId"] == B2
    assert last_line(caplog)["outcome"] == "resolved"


def test_only_a_rollback_may_use_the_functions_whole_timeout(
    fake: FakeImageBuilder,
    cloudformation: FakeCloudFormation,
    rolling_back: FakeStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README, Rollbacks: a rollback reads for as long as the function's timeout allows;
    any other request gives up within ORDINARY_WORK_SECONDS."""
    # shrink the ordinary budget below one attempt: only the rollback still has time
    monkeypatch.setattr(handler, "ORDINARY_WORK_SECONDS", 1.0)
    assert send(request(), rolling_back)["PhysicalResourceId"] == B1
    rolling_back.stack_status("UPDATE_IN_PROGRESS")
    with pytest.raises(DeadlineExceededError, match="gave up on GetImage"):
        send(request(token=FAILED_SYNTH, old_token=GOOD_SYNTH), rolling_back)


def test_a_rollback_never_fails_on_properties_it_would_refuse_today(
    fake: FakeImageBuilder, rolling_back: FakeStack
) -> None:
    event = request()
    # the last good template had a property this version refuses
    event["ResourceProperties"] = {
        "ImageName": "golden",
        "Owner": "Amazon",
        "IncludeDeprecated": "true",
        "UnknownKeyOfAnOlderVersion": "1",
    }
    answer = send(event, rolling_back)
    assert answer["PhysicalResourceId"] == B1
    assert answer["Data"]["AmiId"].startswith("ami-")


def test_a_throttled_reread_still_rolls_back_to_the_previous_build(
    fake: FakeImageBuilder, rolling_back: FakeStack, caplog: pytest.LogCaptureFixture
) -> None:
    fake.always("GetImage", lambda _params: (429, {"__type": "ThrottlingException"}))
    # little time left: the re-read gives up, and the answer comes from the ARN
    answer = send(request(), rolling_back, remaining_seconds=38)
    assert answer["PhysicalResourceId"] == B1
    assert answer["Data"]["BuildVersion"] == "1.0.0/1"
    assert answer["Data"]["AmiId"] == ""  # no AMI tagged with B1 in EC2 either
    line = last_line(caplog)
    assert line["outcome"] == "rolled back"
    assert line["previous_build"] == B1
    assert line["attributes_from_arn_only"].startswith("DeadlineExceededError")


def test_an_ordinary_update_whose_status_is_throttled_resolves_without_waiting(
    fake: FakeImageBuilder, cloudformation: FakeCloudFormation, rolling_back: FakeStack
) -> None:
    # RefreshToken grew: a newer synth; the status is only confirmed, briefly
    rolling_back.stack_status("UPDATE_IN_PROGRESS")
    cloudformation.fail_next("DescribeStacks", 10_000)
    answer = send(request(token=FAILED_SYNTH, old_token=GOOD_SYNTH), rolling_back)
    assert answer["PhysicalResourceId"] == B2  # resolved: the newest build
    # retried for CONFIRM_SECONDS only: waits of a random part of 1, 2, 4, 8 ... s fit a
    # handful of calls in there (ten would need nine near-zero draws in a row)
    assert cloudformation.count("DescribeStacks") < 10
    assert cloudformation.count("DescribeStackEvents") == 0


def test_an_ordinary_update_resolves_as_usual(
    fake: FakeImageBuilder, cloudformation: FakeCloudFormation, rolling_back: FakeStack
) -> None:
    rolling_back.stack_status("UPDATE_IN_PROGRESS")
    answer = send(request(token="release-9", old_token="release-8"), rolling_back)
    assert answer["PhysicalResourceId"] == B2
    assert cloudformation.count("DescribeStackEvents") == 0


def test_an_update_of_a_stack_cloudformation_does_not_know_resolves_as_usual(
    fake: FakeImageBuilder, cloudformation: FakeCloudFormation
) -> None:
    answer = on_event(load_event("update", ImageName="golden"), FakeLambdaContext())
    assert answer["PhysicalResourceId"] == B2
