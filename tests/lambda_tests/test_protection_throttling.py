"""protect_pinned_build under throttling: every call the pin's way makes is retried.

Issue "Hold under pressure": each call of the lookup handler is tested throttled. Here are
the two paths test_protection.py leaves out: the lookup's pin reports (EventBridge
PutEvents on the registry's bus) and the registry's AMI marker (EC2 CreateTags and
DeleteTags). moto never throttles, so each test makes one of moto's backends (in this
process, behind its server) refuse a call with moto's own exception class, which moto's
server then sends in the service's own wire shape; real boto3 parses it as it would AWS's.

The fixtures and helpers are test_protection.py's (imported, not copied).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from image_lookup.deadline import DEFAULT_RESERVE_SECONDS
from image_lookup.ec2_api import Ec2Gateway
from image_lookup.errors import DeadlineExceededError, ServiceError
from image_lookup.pins import REGISTRY_NAME
from image_lookup.protection import PROTECTED_TAG_KEY
from image_lookup.retry import DEFAULT_RETRY_POLICY
from local_endpoints.imagebuilder import ACCOUNT, FakeImageBuilder
from pin_registry.marker import BuildMarker
from pin_registry.registry import Registry
from pin_registry.store_api import PinStore
from tests.lambda_tests.test_protection import (
    FAST,
    REGION,
    A,
    Clock,
    ami_tags,
    aws,  # noqa: F401 (fixture)
    build_tags,
    capture_reports,
    deadline,
    factory_template,  # noqa: F401 (fixture)
    golden_build,
    holders_in_table,
    moto,  # noqa: F401 (fixture)
    moto_services,
    ours,
    received,
    register_ami,
)
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext

#: Throttled calls the tests that succeed expect the retry to absorb.
THROTTLES = 2
#: A Create with this much time left may make its Image Builder calls (one attempt each must
#: fit, ``retry.Retrier.call``), then has about two seconds left for the report's retries.
LITTLE_TIME = DEFAULT_RESERVE_SECONDS + DEFAULT_RETRY_POLICY.attempt_seconds + 2.0
#: The registry's policy with short throttle waits: their length is test_throttle_backoff's
#: subject; here only that the throttled call is sent again.
QUICK = FAST._replace(throttle_base=0.05, throttle_cap=0.2)
AMI_REGIONS = ("us-east-1", "us-west-2")
#: The SDK's own retries would hide the first answer.
ONE_ATTEMPT = Config(retries={"total_max_attempts": 1})


class Throttle:
    """One method of a moto backend refuses ``times`` calls (None: every call) with
    ``error()``, then does its own work; counts the calls it refused and answered."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        backend: Any,
        method: str,
        error: Callable[[], Exception],
        times: int | None,
    ) -> None:
        self.refused = 0
        self.answered = 0
        original = getattr(backend, method)

        def throttled(*args: Any, **kwargs: Any) -> Any:
            if times is None or self.refused < times:
                self.refused += 1
                raise error()
            self.answered += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(backend, method, throttled)


def eventbridge_throttle() -> Exception:
    """EventBridge's throttle: ThrottlingException, HTTP 400 (EventBridge API reference,
    "Common Errors", which apply to PutEvents as to every action: PutEvents' own Errors
    list only InternalException, as does botocore's events model; the model's
    ThrottlingException shape has no HTTP status, i.e. 400, and botocore's _retry.json
    "throttling_exception" is ThrottlingException with 400). moto's JsonRESTError sends
    it as EventBridge does: status 400, JSON body with ``__type``."""
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("ThrottlingException", "Rate exceeded")


def ec2_throttle() -> Exception:
    """EC2's throttle: RequestLimitExceeded (EC2 API reference, "Error codes"), sent with
    HTTP 503 (botocore's _retry.json, ec2 "request_limit_exceeded"). moto's EC2 exception
    base class (EC2ClientError) cannot send 503: EC2's botocore model has no error shapes,
    so moto synthesizes one without a status and its EC2 serializer answers 400, in EC2's
    XML error shape. The Retrier retries RequestLimitExceeded by its code (THROTTLE_CODES)
    whatever the status, so 400 for 503 changes nothing it decides."""
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError("RequestLimitExceeded", "Request limit exceeded.")


def events_backend() -> Any:
    return moto_services.MotoServices.backend("events", ACCOUNT, REGION)


def ec2_backend(region: str) -> Any:
    return moto_services.MotoServices.backend("ec2", ACCOUNT, region)


def test_the_throttles_reach_boto3_in_the_services_error_shape(
    aws: FakeImageBuilder,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the throttled tests below rely on: boto3 sees each throttle's code, and the
    status moto sends (400 from moto's EC2 where EC2 sends 503, see ``ec2_throttle``)."""
    _, _, amis = golden_build(aws)
    Throttle(monkeypatch, events_backend(), "put_events", eventbridge_throttle, None)
    Throttle(monkeypatch, ec2_backend(REGION), "create_tags", ec2_throttle, None)
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}"}
    calls: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: boto3.client("events", config=ONE_ATTEMPT).put_events(Entries=[entry]),
            "ThrottlingException",
        ),
        (
            lambda: boto3.client("ec2", config=ONE_ATTEMPT).create_tags(
                Resources=[amis[REGION]], Tags=[{"Key": "k", "Value": "v"}]
            ),
            "RequestLimitExceeded",
        ),
    ]
    for call, code in calls:
        with pytest.raises(ClientError) as failure:
            call()
        assert failure.value.response["Error"]["Code"] == code
        assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# ----- the lookup's reports: PutEvents on the registry's bus ------------------------------


def test_a_throttled_report_is_sent_again_and_the_create_succeeds(
    aws: FakeImageBuilder,  # noqa: F811
    factory_template: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PutEvents throttled twice, then answered: the protected Create pins the build and its
    acquire reached the registry's bus (seen through the synthesized reports rule's queue).
    moto never throttles: its events backend refuses the first two PutEvents."""
    from image_lookup.handler import on_event

    queue = capture_reports(factory_template)
    _, b1, _ = golden_build(aws)
    throttle = Throttle(
        monkeypatch, events_backend(), "put_events", eventbridge_throttle, THROTTLES
    )

    answer = on_event(
        load_event("create", ImageName="golden", ProtectPinnedBuild="true"), FakeLambdaContext()
    )

    assert answer["PhysicalResourceId"] == b1
    assert (throttle.refused, throttle.answered) == (THROTTLES, 1)
    (report,) = received(queue)
    assert report["detail"]["action"] == "acquire"
    assert report["detail"]["pins"] == [{"logicalId": "BaseImage", "build": b1}]


def test_a_report_throttled_until_the_deadline_fails_the_create_naming_putevents(
    aws: FakeImageBuilder,  # noqa: F811
    factory_template: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PutEvents throttled for ever with little time left: the Create fails (README, "Keep
    pinned builds alive", Reports: acquire "is a PutEvents the deploy waits for: if it cannot
    be sent, the deploy fails") with one line saying it gave up on PutEvents within the
    time, after more than one attempt, and why. moto's events backend refuses every
    PutEvents."""
    from image_lookup.handler import on_event

    queue = capture_reports(factory_template)
    golden_build(aws)
    throttle = Throttle(monkeypatch, events_backend(), "put_events", eventbridge_throttle, None)

    with pytest.raises(DeadlineExceededError) as failure:
        on_event(
            load_event("create", ImageName="golden", ProtectPinnedBuild="true"),
            FakeLambdaContext(remaining_seconds=LITTLE_TIME),
        )

    reason = str(failure.value)
    assert "\n" not in reason
    gave_up = re.search(rf"gave up on PutEvents in region {REGION} after (\d+) attempts", reason)
    assert gave_up is not None, reason
    assert int(gave_up.group(1)) == throttle.refused >= 2
    assert "last failure: ThrottlingException (HTTP 400)" in reason
    assert received(queue) == []


def test_a_delete_whose_release_is_throttled_for_ever_still_succeeds(
    aws: FakeImageBuilder,  # noqa: F811
    factory_template: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Delete always succeeds (README, "Keep pinned builds alive", Reports: "Delete never
    fails"; ``pin_reports.release`` never raises: the holder's lease runs out instead). Its
    release is still tried, and retried, until the deadline, and the failure is logged.
    moto's events backend refuses every PutEvents."""
    from image_lookup.handler import on_event

    queue = capture_reports(factory_template)
    _, b1, _ = golden_build(aws)
    throttle = Throttle(monkeypatch, events_backend(), "put_events", eventbridge_throttle, None)
    delete = load_event("delete", ImageName="golden", ProtectPinnedBuild="true")
    delete["PhysicalResourceId"] = b1

    with caplog.at_level(logging.INFO, logger="image_lookup"):
        answer = on_event(delete, FakeLambdaContext(remaining_seconds=LITTLE_TIME))

    assert answer == {"PhysicalResourceId": b1}
    assert throttle.refused >= 2 and throttle.answered == 0
    assert received(queue) == []
    (logged,) = [r.getMessage() for r in caplog.records if '"action": "release"' in r.getMessage()]
    assert '"outcome": "failed"' in logged and "gave up on PutEvents" in logged


def test_a_report_throttled_entry_by_entry_is_retried_until_the_deadline(
    aws: FakeImageBuilder,  # noqa: F811
    factory_template: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PutEvents answers 200 and fails an entry with ErrorCode ThrottlingException, a
    retryable entry error (API reference, PutEventsResultEntry; botocore's events model):
    the report is retried with backoff like a throttled call, until the deadline, and the
    Create fails with the deadline's reason naming PutEvents. moto never throttles: its
    events backend answers every entry so."""
    from image_lookup.handler import on_event

    capture_reports(factory_template)
    golden_build(aws)
    calls: list[int] = []

    def entry_throttled(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls.append(len(entries))
        return [{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}] * len(
            entries
        )

    monkeypatch.setattr(events_backend(), "put_events", entry_throttled)
    with pytest.raises(DeadlineExceededError, match="PutEvents"):
        on_event(
            load_event("create", ImageName="golden", ProtectPinnedBuild="true"),
            FakeLambdaContext(remaining_seconds=LITTLE_TIME),
        )
    assert len(calls) >= 2


def test_a_report_throttled_entry_by_entry_twice_is_delivered(
    aws: FakeImageBuilder,  # noqa: F811
    factory_template: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An entry that failed with a retryable ErrorCode is sent again, alone, after a backoff
    (API reference, PutEventsResultEntry), and then reaches the bus. moto never fails an
    entry: its events backend is made to fail the first two so."""
    from image_lookup.handler import on_event

    queue = capture_reports(factory_template)
    _, arn, _ = golden_build(aws)
    backend = events_backend()
    put_events = backend.put_events
    calls: list[int] = []

    def entry_throttled_twice(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls.append(len(entries))
        if len(calls) <= THROTTLES:
            return [{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}] * len(
                entries
            )
        return list(put_events(entries))

    monkeypatch.setattr(backend, "put_events", entry_throttled_twice)
    answer = on_event(
        load_event("create", ImageName="golden", ProtectPinnedBuild="true"), FakeLambdaContext()
    )
    assert answer["PhysicalResourceId"] == arn
    assert calls == [1] * (THROTTLES + 1)
    (report,) = received(queue)
    assert arn in json.dumps(report)


def test_a_report_entry_refused_for_good_fails_at_once(
    aws: FakeImageBuilder,  # noqa: F811
    factory_template: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An entry ErrorCode PutEvents does not call retryable (here InvalidArgument; API
    reference, PutEventsResultEntry) is not sent again: the Create fails in one line naming
    the registry and the code."""
    from image_lookup.handler import on_event

    capture_reports(factory_template)
    golden_build(aws)
    calls: list[int] = []

    def entry_refused(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls.append(len(entries))
        return [{"ErrorCode": "InvalidArgument", "ErrorMessage": "bad detail"}] * len(entries)

    monkeypatch.setattr(events_backend(), "put_events", entry_refused)
    with pytest.raises(ServiceError) as failure:
        on_event(
            load_event("create", ImageName="golden", ProtectPinnedBuild="true"),
            FakeLambdaContext(),
        )
    assert calls == [1]
    assert "refused the report: InvalidArgument: bad detail" in str(failure.value)
    assert f":event-bus/{REGISTRY_NAME}" in str(failure.value)
    assert "\n" not in str(failure.value)


# ----- the registry's marker on the AMIs: EC2 CreateTags and DeleteTags --------------------


def quick_registry(seconds: float = 60.0) -> Registry:
    """A registry as one invocation of its function makes it, with short throttle waits."""
    return Registry(
        PinStore.for_table(REGISTRY_NAME, REGION, deadline(seconds), QUICK),
        BuildMarker(ACCOUNT, deadline(seconds), QUICK),
        lease_seconds=3 * 24 * 3600,
        clock=Clock(),
    )


def test_throttled_ami_tagging_is_retried_and_the_acquire_completes(
    aws: FakeImageBuilder,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CreateTags throttled twice in each AMI region: the acquire still completes, the holder
    is recorded and every AMI of the build in this account carries the marker. moto never
    throttles: its EC2 backend of each region refuses the first two CreateTags."""
    _, arn, amis = golden_build(aws)
    throttles = {
        region: Throttle(monkeypatch, ec2_backend(region), "create_tags", ec2_throttle, THROTTLES)
        for region in AMI_REGIONS
    }

    assert quick_registry().acquire(A.pin(arn)) == "acquired"

    for region, throttle in throttles.items():
        assert (throttle.refused, throttle.answered) == (THROTTLES, 1), region
        assert ours(ami_tags(region, amis[region])) == {PROTECTED_TAG_KEY: "true"}
    assert ours(build_tags(arn)) == {PROTECTED_TAG_KEY: "true"}
    assert [item["Holder"]["S"] for item in holders_in_table()] == [A.key]


def test_throttled_ami_untagging_is_retried_and_the_release_removes_the_marker(
    aws: FakeImageBuilder,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DeleteTags throttled twice in each AMI region on the last release: the marker comes
    off every AMI (their other tags stay) and off the build. moto never throttles: its EC2
    backend of each region refuses the first two DeleteTags."""
    _, arn, amis = golden_build(aws)
    keeper = quick_registry()
    keeper.acquire(A.pin(arn))
    throttles = {
        region: Throttle(monkeypatch, ec2_backend(region), "delete_tags", ec2_throttle, THROTTLES)
        for region in AMI_REGIONS
    }

    assert keeper.release(A.pin(arn)) == "unmarked"

    for region, throttle in throttles.items():
        assert (throttle.refused, throttle.answered) == (THROTTLES, 1), region
        assert ours(ami_tags(region, amis[region])) == {}
        assert ami_tags(region, amis[region])["Ec2ImageBuilderArn"] == arn
    assert build_tags(arn) == {"stage": "prod"}
    assert holders_in_table() == []


# ----- the rollback's AMI by its tag: EC2 DescribeImages --------------------------------------


def test_a_throttled_ami_search_of_a_gone_build_is_retried_and_finds_its_ami(
    aws: FakeImageBuilder,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README, Rollbacks: a build Image Builder no longer has still rolls back with its AMI,
    found in EC2 by the Ec2ImageBuilderArn tag; DescribeImages throttled twice is sent again.
    moto never throttles: its EC2 backend refuses the first two DescribeImages."""
    build_arn = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/gone/1.0.0/1"
    image_id = register_ami(REGION, build_arn)
    throttle = Throttle(
        monkeypatch, ec2_backend(REGION), "describe_images", ec2_throttle, THROTTLES
    )
    ec2 = Ec2Gateway.for_region(REGION, deadline(60.0), QUICK)
    assert ec2.image_id_of_build(build_arn) == image_id
    assert (throttle.refused, throttle.answered) == (THROTTLES, 1)
