"""Throttles: how long a lookup waits, and how a stack of many lookups spreads its calls.

Every wait here is recorded, not slept: the retrier gets a fake clock, a recording sleep
and a fixed jitter, while the calls themselves go through real boto3 to the local
endpoint, which answers throttles as Image Builder documents them: botocore's model
lists ``CallRateLimitExceededException`` with HTTP 429 among the errors of ListImages,
GetImage and ListImageBuildVersions.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from image_lookup.contract import ORDINARY_WORK_SECONDS
from image_lookup.deadline import Deadline
from image_lookup.errors import DeadlineExceededError
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.pacing import (
    LOOKUPS_ENV,
    MAX_SPREAD_SECONDS,
    SPREAD_MIN_LOOKUPS,
    lookups_in_stack,
    spread_seconds,
)
from image_lookup.retry import (
    DEFAULT_RETRY_POLICY,
    RETRY_WINDOW_SHARE,
    Retrier,
    RetryPolicy,
    stack_retry_policy,
)
from local_endpoints.imagebuilder import ACCOUNT, RATE_LIMIT_CODE, REGION, FakeImageBuilder

NAME = "golden"
WILDCARD = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/{NAME}/x.x.x"


class Clock:
    """A clock that only moves when the retrier sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def gateway(
    clock: Clock,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    jitter: float = 0.5,
    budget: float = 600.0,
) -> ImageBuilderGateway:
    """A gateway whose retrier waits on ``clock`` with a fixed jitter."""
    client = boto3.session.Session().client(
        "imagebuilder", config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
    )
    retrier = Retrier(
        Deadline(budget_seconds=budget, clock=clock.time),
        REGION,
        policy,
        sleep=clock.sleep,
        jitter=lambda: jitter,
        clock=clock.time,
    )
    return ImageBuilderGateway(client, retrier)


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield Clock()


@pytest.fixture(autouse=True)
def golden(fake: FakeImageBuilder) -> None:
    fake.add(NAME, "1.0.0")


def throttle(fake: FakeImageBuilder, count: int, operation: str = "GetImage") -> None:
    fake.fail_next(operation, count, RATE_LIMIT_CODE, 429)


# ----- one lookup ---------------------------------------------------------------------------


def test_an_unthrottled_lookup_never_waits(fake: FakeImageBuilder, clock: Clock) -> None:
    lookup = gateway(clock, stack_retry_policy({}))
    assert lookup.get_image(WILDCARD) is not None
    assert clock.sleeps == [] and lookup.calls == 1


def test_a_throttle_backs_off_like_the_sdk_standard_mode(
    fake: FakeImageBuilder, clock: Clock
) -> None:
    """botocore retries/standard.py, ExponentialBackoff: rand * min(1 s * 2**i, 20 s)."""
    throttle(fake, 6)
    lookup = gateway(clock)
    assert lookup.get_image(WILDCARD) is not None
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert (lookup.calls, lookup.retries) == (7, 6)


def test_a_5xx_keeps_its_shorter_backoff(fake: FakeImageBuilder, clock: Clock) -> None:
    fake.fail_next("GetImage", 2, "ServiceUnavailableException", 503)
    throttle(fake, 1)
    assert gateway(clock).get_image(WILDCARD) is not None
    # 5xx: half of 0.4 s, then of 0.8 s; the throttle after them: half of its 4 s ceiling
    assert clock.sleeps == pytest.approx([0.2, 0.4, 2.0])


def test_a_wait_past_the_deadline_is_cut_to_leave_one_last_attempt(
    fake: FakeImageBuilder, clock: Clock
) -> None:
    fake.always("GetImage", lambda _params: (429, {"__error__": RATE_LIMIT_CODE}))
    attempt = DEFAULT_RETRY_POLICY.attempt_seconds
    lookup = gateway(clock, jitter=1.0, budget=attempt + 5.0)
    with pytest.raises(DeadlineExceededError, match=RATE_LIMIT_CODE):
        lookup.get_image(WILDCARD)
    # 1 s, 2 s, then 4 s cut to the 2 s that still leave one whole attempt
    assert clock.sleeps == [1.0, 2.0, 2.0]
    assert lookup.calls == 4
    assert clock.now + attempt <= attempt + 5.0


# ----- a stack of many lookups ---------------------------------------------------------------


def test_a_small_stack_or_none_has_no_spread() -> None:
    assert stack_retry_policy({}) == DEFAULT_RETRY_POLICY
    small = {LOOKUPS_ENV: str(SPREAD_MIN_LOOKUPS)}
    assert stack_retry_policy(small).spread_seconds == 0.0


@pytest.mark.parametrize(
    ("value", "lookups"), [("200", 200), ("", 0), ("many", 0), ("-3", 0), (None, 0)]
)
def test_the_stacks_lookups_come_from_the_environment(value: str | None, lookups: int) -> None:
    environ = {} if value is None else {LOOKUPS_ENV: value}
    assert lookups_in_stack(environ) == lookups


def test_the_spread_paces_the_stack_below_the_assumed_rate() -> None:
    # 200 lookups at 5 calls a second take 40 s; they are spread over 20 % more
    assert spread_seconds(200) == pytest.approx(48.0)
    assert spread_seconds(11) == pytest.approx(2.64)
    assert spread_seconds(10_000) == MAX_SPREAD_SECONDS


def test_the_spread_leaves_room_for_retries_within_the_timeout() -> None:
    work_seconds = ORDINARY_WORK_SECONDS
    after_spread = MAX_SPREAD_SECONDS * (1 + 2 * RETRY_WINDOW_SHARE)
    assert after_spread + DEFAULT_RETRY_POLICY.attempt_seconds < work_seconds


def test_a_large_stack_spreads_only_the_first_call(fake: FakeImageBuilder, clock: Clock) -> None:
    policy = stack_retry_policy({LOOKUPS_ENV: "200"})
    lookup = gateway(clock, policy, jitter=0.25)
    assert lookup.get_image(WILDCARD) is not None
    assert list(lookup.builds(f"{WILDCARD[:-6]}/1.0.0")) != []
    assert clock.sleeps == [pytest.approx(12.0)]  # a quarter of the 48 s spread, once
    assert lookup.calls == 2


def test_a_throttle_during_the_spread_is_retried_after_it(
    fake: FakeImageBuilder, clock: Clock
) -> None:
    throttle(fake, 2)
    policy = stack_retry_policy({LOOKUPS_ENV: "200"})
    lookup = gateway(clock, policy, jitter=0.5)
    assert lookup.get_image(WILDCARD) is not None
    first, after_spread, again = clock.sleeps
    assert first == pytest.approx(24.0)  # half of the 48 s spread
    # the rest of the spread, then half of a window of a quarter of it (12 s)
    assert first + after_spread == pytest.approx(48.0 + 6.0)
    # past the spread: half of that window again, being wider than the 2 s of a 2nd throttle
    assert again == pytest.approx(6.0)
    assert lookup.calls == 3


# ----- the local endpoint's rate limit -----------------------------------------------------


def test_the_local_endpoint_throttles_calls_over_its_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    # a bucket of 2 that refills once in 1,000 s: the third call at once is over the rate
    limited = FakeImageBuilder(rate_limit_tps=0.001, rate_limit_burst=2).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_IMAGEBUILDER", limited.url)
        client = boto3.session.Session().client(
            "imagebuilder", config=Config(retries={"total_max_attempts": 1})
        )
        client.list_images()
        client.list_images()
        with pytest.raises(ClientError) as caught:
            client.list_images()
    finally:
        limited.stop()
    assert caught.value.response["Error"]["Code"] == RATE_LIMIT_CODE
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert (limited.count(), limited.throttled) == (3, 1)
