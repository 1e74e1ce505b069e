"""Shared fixtures: a local Image Builder endpoint wired into real boto3."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from image_lookup.contract import HANDLER_TIMEOUT_SECONDS
from local_endpoints.imagebuilder import FakeImageBuilder
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext


@pytest.fixture(scope="session")
def cloudformation_endpoint() -> Iterator[str]:
    """Where the handler's CloudFormation reads go: moto's server (a stack it does not
    know is an ordinary update), or, in the venv of Lambda's older boto3 that has no
    moto, a closed loopback port (unreachable: also an ordinary update). Never AWS."""
    try:
        from local_endpoints.moto_services import MotoServices
    except ImportError:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        yield f"http://127.0.0.1:{port}"
        return
    services = MotoServices().start()
    yield services.url
    services.stop()


@pytest.fixture
def fake(
    monkeypatch: pytest.MonkeyPatch, cloudformation_endpoint: str
) -> Iterator[FakeImageBuilder]:
    """A started fake endpoint; boto3 in this process talks to it."""
    service = FakeImageBuilder().start()
    for name, value in service.client_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", cloudformation_endpoint)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    yield service
    assert service.shape_violations == [], service.shape_violations
    service.stop()


@pytest.fixture
def invoke() -> Callable[..., dict[str, Any]]:
    """Call the handler with an event file: invoke("create", ImageName=...)."""
    from image_lookup.handler import on_event

    def call(
        name: str = "create",
        *,
        remaining_seconds: float = HANDLER_TIMEOUT_SECONDS,
        **properties: Any,
    ) -> dict[str, Any]:
        return on_event(load_event(name, **properties), FakeLambdaContext(remaining_seconds))

    return call
