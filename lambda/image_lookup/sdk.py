"""The SDK session and clients of every service module: one session per process, bounded
timeouts, and the SDK's own retries off (``retry`` retries, under the deadline)."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from image_lookup.errors import ServiceError
from image_lookup.retry import RetryPolicy


@functools.lru_cache(maxsize=1)
def session() -> boto3.session.Session:
    """One SDK session per process: loading it costs ~80 ms, so warm invocations reuse it."""
    return boto3.session.Session()


def client(service: str, region: str | None, policy: RetryPolicy, label: str) -> Any:
    """A client making one SDK attempt per call within ``policy``'s timeouts.

    ``label`` names the service in the one-line error when no client can be made
    (e.g. no region is configured).
    """
    config = Config(
        connect_timeout=policy.connect_timeout,
        read_timeout=policy.read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    try:
        return session().client(service, region_name=region, config=config)  # type: ignore[call-overload]
    except BotoCoreError as error:
        raise ServiceError(f"cannot create an {label} client: {error}") from error


def operation_name(method: str) -> str:
    """``list_images`` -> ``ListImages`` (the API operation and IAM action name)."""
    return "".join(part.capitalize() for part in method.split("_"))
