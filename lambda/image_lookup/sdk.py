"""The SDK session and clients of every service module: one session per process, bounded
timeouts, and the SDK's own retries off (``retry`` retries, under the deadline).

A short deadline (the command line's ``--timeout 4``) does not refuse to start: the
per-attempt connect and read timeouts shrink to fit it (``fitted_policy``), so the lookup
tries, and when the service is slower than the deadline it fails with the deadline's
message.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from image_lookup.errors import ServiceError
from image_lookup.retry import RetryPolicy

#: A shrunk attempt takes at most this share of the deadline: one failed attempt leaves
#: time for another.
ATTEMPT_SHARE = 0.5


@functools.lru_cache(maxsize=1)
def session() -> boto3.session.Session:
    """One SDK session per process: loading it costs ~80 ms, so warm invocations reuse it."""
    return boto3.session.Session()


def client(
    service: str,
    region: str | None,
    policy: RetryPolicy,
    label: str,
    *,
    credentials: Mapping[str, str] | None = None,
) -> Any:
    """A client making one SDK attempt per call within ``policy``'s timeouts.

    ``label`` names the service in the one-line error when no client can be made
    (e.g. no region is configured). ``credentials``: ``aws_access_key_id``,
    ``aws_secret_access_key``, ``aws_session_token`` of another identity (a role assumed
    elsewhere); default the session's.
    """
    config = Config(
        connect_timeout=policy.connect_timeout,
        read_timeout=policy.read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    try:
        return session().client(  # type: ignore[call-overload]
            service, region_name=region, config=config, **dict(credentials or {})
        )
    except BotoCoreError as error:
        raise ServiceError(f"cannot create an {label} client: {error}") from error


def operation_name(method: str) -> str:
    """``list_images`` -> ``ListImages`` (the API operation and IAM action name)."""
    return "".join(part.capitalize() for part in method.split("_"))


def fitted_policy(policy: RetryPolicy, budget_seconds: float) -> RetryPolicy:
    """``policy`` with its connect and read timeouts shrunk, in proportion, so that one
    attempt takes at most ``ATTEMPT_SHARE`` of ``budget_seconds``; unchanged when it fits."""
    most = budget_seconds * ATTEMPT_SHARE
    if policy.attempt_seconds <= most:
        return policy
    scale = most / policy.attempt_seconds
    return policy._replace(
        connect_timeout=policy.connect_timeout * scale, read_timeout=policy.read_timeout * scale
    )
