"""Shared fixtures: a local Image Builder endpoint wired into real boto3."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_imagebuilder import ACCOUNT, REGION, FakeImageBuilder

EVENTS = Path(__file__).parent / "events"


class FakeLambdaContext:
    """The parts of Lambda's context object the handler reads."""

    def __init__(self, remaining_seconds: float = 120.0) -> None:
        self._ends_at_ms = remaining_seconds * 1000
        self._started: float | None = None
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:lookup"
        self.aws_request_id = "c0ffee00-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        """Counts down from the first call, as Lambda's clock runs from the invocation."""
        if self._started is None:
            self._started = time.monotonic()
        return int(self._ends_at_ms - (time.monotonic() - self._started) * 1000)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeImageBuilder]:
    """A started fake endpoint; boto3 in this process talks to it."""
    service = FakeImageBuilder().start()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_IMAGEBUILDER", service.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield service
    assert service.shape_violations == [], service.shape_violations
    service.stop()


def load_event(name: str, **properties: Any) -> dict[str, Any]:
    """An event file from tests/events with ResourceProperties merged in (None removes)."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    props = event.setdefault("ResourceProperties", {})
    for key, value in properties.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return event


@pytest.fixture
def invoke() -> Callable[..., dict[str, Any]]:
    """Call the handler with an event file: invoke("create", ImageName=...)."""
    from image_lookup.handler import on_event

    def call(
        name: str = "create", *, remaining_seconds: float = 120.0, **properties: Any
    ) -> dict[str, Any]:
        return on_event(load_event(name, **properties), FakeLambdaContext(remaining_seconds))

    return call
