"""Run one lookup end to end: gateway, resolution, attributes and its one structured log line."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from image_lookup.contract import Attribute
from image_lookup.deadline import Deadline
from image_lookup.errors import ImageLookupError, NoAmiError, NoContainerError, ServiceError
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.models import LookupRequest
from image_lookup.outputs import build_attributes
from image_lookup.resolver import resolve
from image_lookup.retry import DEFAULT_RETRY_POLICY, RetryPolicy

LOGGER = logging.getLogger("image_lookup")
LOGGER.setLevel(logging.INFO)


def lookup_image(
    request: LookupRequest,
    deadline: Deadline,
    *,
    deploy_region: str | None = None,
    account_id: str | None = None,
    log_context: dict[str, Any] | None = None,
    retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    now: datetime | None = None,
    gateway: ImageBuilderGateway | None = None,
) -> dict[str, str]:
    """Resolve ``request`` and return the custom resource's ``Data``; log one JSON line.

    ``now`` is the moment promotion gates measure build ages from (default: the clock).
    ``gateway``: one made by the caller (other credentials); default: the request's region.
    """
    started = time.monotonic()
    if gateway is None:
        gateway = ImageBuilderGateway.for_region(request.region, deadline, retry_policy)
    record: dict[str, Any] = dict(log_context or {})
    record.update(
        image_name=request.image_name,
        selector=request.selector.text,
        owner=request.owner.value,
        filters=dict(request.filters.as_pairs()),
        include_deprecated=request.include_deprecated,
        gates=request.gates.describe(),
        require_ami=request.require_ami,
        require_container=request.require_container,
        image_account=request.image_account,
        region=gateway.region,
    )
    region = deploy_region or gateway.region
    try:
        resolution = resolve(request, gateway, account_id, now)
        data = build_attributes(resolution.build, region, account_id, resolution.listed)
        if request.require_ami and not data[Attribute.AMI_ID]:
            raise NoAmiError(
                f"build {resolution.build.arn} has no AMI in region {region}; this lookup "
                "feeds an AMI (machine_image() or publish_parameter()): add "
                f"{region} to the image's distribution"
            )
        if request.require_container and not data[Attribute.CONTAINER_IMAGE_URI]:
            raise NoContainerError(
                f"build {resolution.build.arn} has no container image in region {region}; "
                "this lookup feeds a container (container_image()): add "
                f"{region} to the image's container distribution"
            )
    except ImageLookupError as error:
        _log(
            record,
            gateway,
            started,
            outcome="failed",
            error=type(error).__name__,
            reason=error.reason,
        )
        raise
    except Exception as error:
        # A bug or an SDK surprise: keep the stack event's reason to one line; the
        # traceback goes to the log.
        LOGGER.exception("unexpected failure")
        failure = ServiceError(f"unexpected {type(error).__name__} during lookup: {error}")
        _log(record, gateway, started, outcome="failed", error="Unexpected", reason=failure.reason)
        raise failure from error
    _log(
        record,
        gateway,
        started,
        outcome="resolved",
        candidates=len(resolution.candidates.matching),
        versions_seen=len(resolution.candidates.seen_versions),
        versions_tried=resolution.versions_tried,
        chosen=resolution.build.arn,
    )
    return data


def _log(
    record: dict[str, Any], gateway: ImageBuilderGateway, started: float, **outcome: Any
) -> None:
    """Emit the lookup's single structured log line."""
    line = {
        "message": "image lookup",
        **record,
        **outcome,
        "calls": gateway.calls,
        "retries": gateway.retries,
        "milliseconds": round((time.monotonic() - started) * 1000),
    }
    LOGGER.info(json.dumps(line, default=str))
