"""Fault injection: every fault and bad input ends in a clear answer, never a hang or a crash."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from image_lookup.deadline import Deadline
from image_lookup.errors import (
    MAX_REASON_LENGTH,
    AccessDeniedError,
    DeadlineExceededError,
    ImageLookupError,
    InvalidInputError,
    NoMatchingImageError,
    ServiceError,
)
from image_lookup.handler import on_event
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.lookup_runner import lookup_image
from image_lookup.properties import parse_properties
from image_lookup.retry import Retrier, RetryPolicy
from local_endpoints.imagebuilder import OWNER_ACCOUNTS, FakeImageBuilder
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext

Invoke = Callable[..., dict[str, Any]]
NAME = "golden-al2023"
RESERVE_SECONDS = 10.0


#: Shared images take the listing path (their account is unknown), where most faults can
#: strike; the one-call path for own images has its own tests in test_handler.py.
OWNER = "Shared"


#: Half-second connect/read timeouts so deadline tests run in seconds.
SHORT_TIMEOUTS = RetryPolicy(connect_timeout=0.5, read_timeout=0.5)


@pytest.fixture(autouse=True)
def shared_images(fake: FakeImageBuilder) -> None:
    fake.default_owner = OWNER


def lookup_with_short_timeouts(context: FakeLambdaContext) -> dict[str, str]:
    """The handler's lookup for NAME, with SHORT_TIMEOUTS passed in."""
    request = parse_properties({"ImageName": NAME, "Owner": OWNER})
    return lookup_image(
        request, Deadline(context.get_remaining_time_in_millis), retry_policy=SHORT_TIMEOUTS
    )


def assert_one_line(error: BaseException) -> str:
    reason = str(error)
    assert "\n" not in reason
    assert 0 < len(reason) <= MAX_REASON_LENGTH
    return reason


# ----- the deadline ------------------------------------------------------------------------


def test_endless_throttling_stops_ten_seconds_before_the_timeout(
    fake: FakeImageBuilder,
) -> None:
    fake.add(NAME, "1.0.0")
    fake.always("ListImages", lambda _p: (429, {"__error__": "ThrottlingException"}))
    context = FakeLambdaContext(remaining_seconds=14.0)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError) as caught:
        lookup_with_short_timeouts(context)
    elapsed = time.monotonic() - started
    assert context.get_remaining_time_in_millis() / 1000 >= RESERVE_SECONDS
    assert elapsed < 14.0 - RESERVE_SECONDS
    reason = assert_one_line(caught.value)
    assert "ListImages" in reason and "ThrottlingException" in reason
    assert fake.count("ListImages") > 2  # it did retry, with backoff, until the budget ran out


def test_a_stalling_service_is_cut_off_by_read_timeouts(
    fake: FakeImageBuilder,
) -> None:
    fake.add(NAME, "1.0.0")
    fake.always("ListImages", lambda _p: time.sleep(3))
    context = FakeLambdaContext(remaining_seconds=14.0)
    with pytest.raises(DeadlineExceededError) as caught:
        lookup_with_short_timeouts(context)
    assert context.get_remaining_time_in_millis() / 1000 >= RESERVE_SECONDS
    assert "ReadTimeout" in assert_one_line(caught.value)
    assert fake.count("ListImages") >= 2


def test_a_stall_that_clears_is_retried(fake: FakeImageBuilder) -> None:
    fake.add(NAME, "1.0.0")
    fake.stall_next("GetImage", 1, seconds=2)
    data = lookup_with_short_timeouts(FakeLambdaContext(30))
    assert data["Version"] == "1.0.0"
    assert fake.count("GetImage") == 2


def test_no_time_left_means_no_call(fake: FakeImageBuilder) -> None:
    fake.add(NAME, "1.0.0")
    with pytest.raises(DeadlineExceededError):
        on_event(
            load_event("create", ImageName=NAME, Owner=OWNER),
            FakeLambdaContext(remaining_seconds=11),
        )
    assert fake.calls == []


# ----- malformed answers -------------------------------------------------------------------


def listing(*entries: dict[str, Any], token: str | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"imageVersionList": list(entries)}
    if token:
        body["nextToken"] = token
    return 200, body


def entry(version: Any, name: Any = NAME, arn: Any = "default") -> dict[str, Any]:
    if arn == "default":
        arn = f"arn:aws:imagebuilder:us-east-1:{OWNER_ACCOUNTS[OWNER]}:image/{NAME}/{version}"
    return {"arn": arn, "name": name, "version": version, "type": "AMI"}


def test_missing_null_and_unparsable_fields_are_skipped(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    fake.add(NAME, "1.0.0")
    fake.add(NAME, "9.0.0")
    fake.inject(
        "ListImages",
        lambda _p: listing(
            entry("9.9.9", arn=None),
            entry("8.8.8", name=None),
            entry(None),
            entry("1.2"),
            entry("a.b.c"),
            entry("1.2.3.4"),
            {"unexpected": True},
            entry("1.0.0"),
        ),
    )
    assert invoke(ImageName=NAME, Owner=OWNER)["Data"]["Version"] == "1.0.0"


def test_missing_list_and_null_outputs(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0")
    for _listing in range(2):  # by name, then (no match) by the owner alone
        fake.inject("ListImages", lambda _p: (200, {"requestId": "r"}))
    with pytest.raises(NoMatchingImageError, match="versions seen: none"):
        invoke(ImageName=NAME, Owner=OWNER)
    arn = f"arn:aws:imagebuilder:us-east-1:123456789012:image/{NAME}/1.0.0"
    fake.inject(
        "GetImage",
        lambda _p: (
            200,
            {
                "image": {
                    "arn": arn + "/1",
                    "name": NAME,
                    "version": "1.0.0/1",
                    "state": {"status": "AVAILABLE"},
                    "outputResources": None,
                    "platform": None,
                }
            },
        ),
    )
    data = invoke(ImageName=NAME, Owner=OWNER)["Data"]
    assert data["AmiId"] == ""
    assert data["Platform"] == "Linux"  # the listing's value stands in for the null one


def test_empty_page_with_a_token_keeps_paging(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0")
    fake.inject("ListImages", lambda _p: listing(token="empty-page"))
    fake.inject("ListImages", lambda _p: listing(token="another-empty-page"))
    fake.inject("ListImages", lambda _p: listing(entry("1.0.0")))
    assert invoke(ImageName=NAME, Owner=OWNER)["Data"]["Version"] == "1.0.0"
    assert fake.count("ListImages") == 3


def test_a_repeating_token_is_caught(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.always("ListImages", lambda _p: listing(entry("1.0.0"), token="same-token"))
    with pytest.raises(ServiceError) as caught:
        invoke(ImageName=NAME, Owner=OWNER)
    assert "already returned" in assert_one_line(caught.value)
    assert fake.count("ListImages") == 2


def test_expired_page_token_restarts_the_listing_once(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    for minor in range(5):
        fake.add(NAME, f"1.{minor}.0")
    fake.page_size = 2
    fake.inject("ListImages", lambda _p: None)  # first page as usual
    fake.inject("ListImages", lambda _p: (400, {"__error__": "InvalidPaginationTokenException"}))
    assert invoke(ImageName=NAME, Owner=OWNER)["Data"]["Version"] == "1.4.0"


def test_page_token_rejected_again_fails_cleanly(fake: FakeImageBuilder, invoke: Invoke) -> None:
    for minor in range(5):
        fake.add(NAME, f"1.{minor}.0")
    fake.page_size = 2
    rejected = (400, {"__error__": "InvalidPaginationTokenException"})
    fake.always("ListImages", lambda params: rejected if "nextToken" in params else None)
    with pytest.raises(ServiceError) as caught:
        invoke(ImageName=NAME, Owner=OWNER)
    assert "page token" in assert_one_line(caught.value)


def test_unknown_build_state_is_not_usable(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0")
    fake.add(NAME, "2.0.0", "QUANTUM_SUPERPOSITION")
    fake.add(NAME, "3.0.0")

    def lying_get(params: dict[str, Any], reply: Any) -> Any:
        status, body = reply
        if status == 200 and "/3.0.0" in params["imageBuildVersionArn"]:
            body["image"]["state"]["status"] = "QUANTUM_SUPERPOSITION"
        return status, body

    fake.rewrite_answers("GetImage", lying_get)
    assert invoke(ImageName=NAME, Owner=OWNER)["Data"]["Version"] == "1.0.0"


def test_an_answer_for_another_image_is_rejected(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0")
    fake.add(NAME, "2.0.0")
    other = fake.add("other-image", "2.0.0")
    fake.inject("GetImage", lambda _p: (200, {"image": other.image(other.builds[0])}))
    assert invoke(ImageName=NAME, Owner=OWNER)["Data"]["Version"] == "1.0.0"


def test_a_body_that_is_not_json_ends_in_one_line(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0")
    fake.always("ListImages", lambda _p: (200, b"<html>gateway says hi</html>"))
    with pytest.raises(ImageLookupError) as caught:
        invoke(ImageName=NAME, Owner=OWNER)
    assert_one_line(caught.value)


# ----- short reasons -----------------------------------------------------------------------


def test_reason_stays_short_with_thousands_of_versions(
    fake: FakeImageBuilder, invoke: Invoke
) -> None:
    for minor in range(3000):
        fake.add(NAME, f"1.{minor}.0", "FAILED")
    with pytest.raises(NoMatchingImageError) as caught:
        invoke(ImageName=NAME, Owner=OWNER, VersionSelector="2.x.x")
    reason = assert_one_line(caught.value)
    assert "1.2999.0" in reason and "more" in reason
    assert len(json.dumps({"Reason": reason, "PhysicalResourceId": "x" * 256})) < 4096


def test_no_available_build_has_its_own_reason(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0", "FAILED")
    fake.add(NAME, "1.1.0", "BUILDING", "CANCELLED")
    with pytest.raises(NoMatchingImageError) as caught:
        invoke(ImageName=NAME, Owner=OWNER)
    reason = assert_one_line(caught.value)
    assert "no AVAILABLE build" in reason and "1.1.0, 1.0.0" in reason


# ----- access and reachability -------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "code", "owner"),
    [
        ("ListImages", "AccessDeniedException", "Shared"),
        ("GetImage", "AccessDeniedException", "Amazon"),
        ("GetImage", "AccessDeniedException", "Self"),
        ("ListImages", "ForbiddenException", "Shared"),
    ],
)
def test_access_denied_names_the_permission(
    fake: FakeImageBuilder, invoke: Invoke, operation: str, code: str, owner: str
) -> None:
    fake.add(NAME, "1.0.0", owner=owner)
    fake.fail_next(operation, 1, code, 403)
    with pytest.raises(AccessDeniedError) as caught:
        invoke(ImageName=NAME, Owner=owner)
    assert f"imagebuilder:{operation}" in assert_one_line(caught.value)
    assert fake.count(operation) == 1  # not retried


def test_region_without_the_service(
    fake: FakeImageBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_IMAGEBUILDER", f"http://127.0.0.1:{closed_port}")
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        on_event(
            load_event("create", ImageName=NAME, Owner=OWNER, Region="ap-south-2"),
            FakeLambdaContext(),
        )
    reason = assert_one_line(caught.value)
    assert "cannot reach EC2 Image Builder in region ap-south-2" in reason
    assert time.monotonic() - started < 10


# ----- lifecycle edges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"RequestType": "Delete"},
        {"RequestType": "Delete", "ResourceProperties": 5, "PhysicalResourceId": ""},
        {"RequestType": "Delete", "ResourceProperties": {"VersionSelector": "bad", "Junk": 1}},
    ],
)
def test_delete_always_succeeds(fake: FakeImageBuilder, event: dict[str, Any]) -> None:
    # with no physical id to repeat, the provider framework keeps the existing one
    assert on_event(event, FakeLambdaContext()) == {}
    assert fake.calls == []


def test_unknown_request_type(fake: FakeImageBuilder) -> None:
    with pytest.raises(InvalidInputError, match="'Replace'"):
        on_event({"RequestType": "Replace", "ResourceProperties": {}}, FakeLambdaContext())


# ----- logs --------------------------------------------------------------------------------


def lookup_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "image_lookup" and record.getMessage().startswith("{")
    ]


def test_one_structured_line_per_lookup_without_the_response_url(
    fake: FakeImageBuilder, invoke: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add(NAME, "1.0.0")
    fake.add(NAME, "1.1.0", "FAILED")
    fake.fail_next("ListImages", 1)
    invoke(ImageName=NAME, Owner=OWNER)
    with pytest.raises(NoMatchingImageError):
        invoke(ImageName=NAME, Owner=OWNER, VersionSelector="7.x.x")
    lines = lookup_lines(caplog)
    assert len(lines) == 2
    resolved, failed = lines
    assert resolved["outcome"] == "resolved"
    assert resolved["image_name"] == NAME and resolved["selector"] == "x.x.x"
    assert resolved["candidates"] == 2 and resolved["versions_tried"] == 2
    assert resolved["chosen"].endswith("/1.0.0/1")
    assert resolved["calls"] == 4 and resolved["retries"] == 1
    assert isinstance(resolved["milliseconds"], int)
    assert failed["outcome"] == "failed" and "7.x.x" in failed["reason"]
    assert "X-Amz-Signature" not in caplog.text
    assert "cloudformation-custom-resource-response" not in caplog.text


# ----- why the SDK's retries are not enough ----------------------------------------------


def test_sdk_standard_mode_does_not_retry_call_rate_limit(fake: FakeImageBuilder) -> None:
    """Documents the SDK behaviour the gateway's own retry loop exists for."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    client = boto3.session.Session().client(
        "imagebuilder", config=Config(retries={"mode": "standard"})
    )
    fake.fail_next("ListImages", 1, "CallRateLimitExceededException", 429)
    with pytest.raises(ClientError, match="CallRateLimitExceededException"):
        client.list_images()
    assert fake.count("ListImages") == 1  # no retry at all


def test_gateway_retries_call_rate_limit(fake: FakeImageBuilder, invoke: Invoke) -> None:
    fake.add(NAME, "1.0.0")
    fake.fail_next("ListImages", 2, "CallRateLimitExceededException", 429)
    assert invoke(ImageName=NAME, Owner=OWNER)["Data"]["Version"] == "1.0.0"
    assert fake.count("ListImages") == 3


def test_backoff_is_exponential_capped_and_jittered(fake: FakeImageBuilder) -> None:
    import boto3
    from botocore.config import Config

    fake.add(NAME, "1.0.0")
    fake.fail_next("ListImages", 6, "ServiceUnavailableException", 503)
    sleeps: list[float] = []
    policy = RetryPolicy()
    client = boto3.session.Session().client(
        "imagebuilder", config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
    )
    retrier = Retrier(
        Deadline(budget_seconds=600), "us-east-1", policy, sleep=sleeps.append, jitter=lambda: 0.5
    )
    gateway = ImageBuilderGateway(client, retrier)
    versions = list(gateway.image_versions(owner=OWNER, name_filter=NAME))
    assert [v.version_text for v in versions] == ["1.0.0"]
    ceiling = [min(policy.backoff_cap, 0.2 * 2**n) for n in range(1, 7)]
    assert sleeps == pytest.approx([0.5 * c for c in ceiling])
    assert (gateway.calls, gateway.retries) == (7, 6)
