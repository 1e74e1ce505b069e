"""Every EventBridge call this package makes: one PutEvents entry on the default event bus."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from image_lookup import sdk
from image_lookup.errors import ServiceError

#: PutEvents is retried by the SDK (standard mode); each attempt is short.
_CONFIG = Config(
    connect_timeout=5, read_timeout=10, retries={"total_max_attempts": 3, "mode": "standard"}
)


def put_event(
    *,
    source: str,
    detail_type: str,
    detail: Mapping[str, str],
    resources: Sequence[str],
    region: str | None = None,
) -> str:
    """Put one event on the region's default bus; return its event id.

    PutEvents answers 200 even when an entry fails: the entry then carries
    ``ErrorCode`` / ``ErrorMessage`` and ``FailedEntryCount`` counts it
    (EventBridge API reference, PutEvents), so that is checked too.
    """
    entry = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(dict(detail), sort_keys=True),
        "Resources": list(resources),
    }
    try:
        client = sdk.session().client("events", region_name=region, config=_CONFIG)
        answer = client.put_events(Entries=[entry])
    except (BotoCoreError, ClientError) as error:
        raise ServiceError(f"EventBridge PutEvents failed: {error}") from error
    entries = answer.get("Entries") or [{}]
    if answer.get("FailedEntryCount") or not entries[0].get("EventId"):
        raise ServiceError(
            f"EventBridge PutEvents refused the event: {entries[0].get('ErrorCode')}: "
            f"{entries[0].get('ErrorMessage')}"
        )
    return str(entries[0]["EventId"])
