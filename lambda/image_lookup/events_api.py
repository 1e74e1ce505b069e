"""Every EventBridge call this package makes: PutEvents, to a pin registry's bus or the
default bus.

A bus may be in another account (the image factory's): EventBridge then needs
``events:PutEvents`` on the bus ARN in the sender's role and a bus policy that lets
the sender's account (or organization) in (EventBridge User Guide, "Sending and
receiving events between AWS accounts"). Retries live in ``retry``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from image_lookup import sdk
from image_lookup.deadline import Deadline
from image_lookup.errors import ServiceError
from image_lookup.retry import DEFAULT_RETRY_POLICY, Retrier, RetryPolicy

#: What EventBridge answers for a bus that does not exist (API reference, PutEvents errors).
BUS_MISSING_CODE = "ResourceNotFoundException"
#: The entry errors PutEvents calls retryable (API reference, PutEventsResultEntry).
RETRYABLE_ENTRY_CODES = frozenset({"ThrottlingException", "InternalFailure"})


class BusMissingError(ServiceError):
    """The event bus an entry names does not exist."""


class EntryRefusedError(ServiceError):
    """PutEvents refused an entry with a code that retrying does not cure."""

    def __init__(self, bus: str, code: str, message: str) -> None:
        super().__init__(f"event bus {bus} refused the event: {code}: {message}")
        self.code = code
        self.message = message


class EventsGateway:
    """Puts events in one region through one client and one retrier."""

    def __init__(self, client: Any, retrier: Retrier) -> None:
        self._client = client
        self._retrier = retrier

    @classmethod
    def for_region(
        cls, region: str | None, deadline: Deadline, policy: RetryPolicy = DEFAULT_RETRY_POLICY
    ) -> EventsGateway:
        """A gateway with its own client: one SDK attempt per call, retried under ``deadline``."""
        client = sdk.client("events", region, policy, "EventBridge")
        retrier = Retrier(
            deadline,
            client.meta.region_name,
            policy,
            iam_prefix="events",
            service_title="EventBridge",
        )
        return cls(client, retrier)

    @property
    def calls(self) -> int:
        """Calls sent so far, retries included."""
        return self._retrier.calls

    def send(self, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        """PutEvents the entries (at most 10); their event ids, in the order accepted.

        PutEvents answers 200 even when an entry fails: the entry then carries
        ``ErrorCode`` / ``ErrorMessage`` (API reference, PutEvents and
        PutEventsResultEntry). Entries that failed with a retryable code are sent
        again, with backoff, under the same deadline; any other code raises
        EntryRefusedError at once. A missing bus raises BusMissingError.
        """
        pending = [dict(entry) for entry in entries]
        bus = str(pending[0].get("EventBusName") or "default") if pending else ""
        event_ids: list[str] = []
        refused: list[Mapping[str, Any]] = []

        def entry_failure(answer: Mapping[str, Any]) -> str | None:
            nonlocal pending
            failed = []
            results: list[Mapping[str, Any]] = list(answer.get("Entries") or [])
            # an entry the answer has no result for counts as refused (no EventId)
            results += [{}] * (len(pending) - len(results))
            for entry, result in zip(pending, results, strict=False):
                if result.get("EventId") and not result.get("ErrorCode"):
                    event_ids.append(str(result["EventId"]))
                else:
                    failed.append((entry, result))
            refused[:] = [r for _, r in failed if r.get("ErrorCode") not in RETRYABLE_ENTRY_CODES]
            if refused or not failed:
                return None
            pending = [entry for entry, _ in failed]
            return str(failed[0][1]["ErrorCode"])

        try:
            self._retrier.call(
                "PutEvents",
                lambda: self._client.put_events(Entries=pending),
                (BUS_MISSING_CODE,),
                answer_failure=entry_failure,
            )
        except ClientError as error:
            raise BusMissingError(f"event bus {bus} does not exist") from error
        if refused:
            code = str(refused[0].get("ErrorCode") or "no EventId")
            raise EntryRefusedError(bus, code, str(refused[0].get("ErrorMessage")))
        return event_ids


def put_event(
    *,
    source: str,
    detail_type: str,
    detail: Mapping[str, str],
    resources: Sequence[str],
    region: str | None,
    deadline: Deadline,
) -> str:
    """Put one event on the region's default bus; return its event id."""
    entry = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(dict(detail), sort_keys=True),
        "Resources": list(resources),
    }
    (event_id,) = EventsGateway.for_region(region, deadline).send([entry])
    return event_id
