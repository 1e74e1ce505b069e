"""Every call a lookup makes to a pin registry: PutEvents on the registry's event bus.

The bus may be in another account (the image factory's): EventBridge then needs
``events:PutEvents`` on the bus ARN in the sender's role and a bus policy that
lets the sender's account (or organization) in (EventBridge User Guide, "Sending
and receiving events between AWS accounts"). Retries live in ``retry``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from image_lookup import sdk
from image_lookup.deadline import Deadline
from image_lookup.errors import AccessDeniedError, ServiceError
from image_lookup.retry import DEFAULT_RETRY_POLICY, Retrier, RetryPolicy

#: What EventBridge answers for a bus that does not exist (API reference, PutEvents errors).
BUS_MISSING_CODE = "ResourceNotFoundException"


class RegistryGateway:
    """Sends pin reports to registries of one region through one client and one retrier."""

    def __init__(self, client: Any, retrier: Retrier) -> None:
        self._client = client
        self._retrier = retrier

    @classmethod
    def for_region(
        cls, region: str, deadline: Deadline, policy: RetryPolicy = DEFAULT_RETRY_POLICY
    ) -> RegistryGateway:
        """A gateway with its own client: one SDK attempt per call, bounded timeouts."""
        client = sdk.client("events", region, policy, "EventBridge")
        retrier = Retrier(
            deadline, region, policy, iam_prefix="events", service_title="EventBridge"
        )
        return cls(client, retrier)

    @property
    def calls(self) -> int:
        """Calls sent so far, retries included."""
        return self._retrier.calls

    def send(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """PutEvents the entries (at most 10); raise ServiceError naming the bus on failure.

        PutEvents answers 200 even when an entry fails: the entry then carries
        ``ErrorCode`` / ``ErrorMessage`` and ``FailedEntryCount`` counts it (API
        reference, PutEvents); a failed entry is sent again, under the same deadline.
        """
        pending = [dict(entry) for entry in entries]
        while pending:
            bus = str(pending[0].get("EventBusName", ""))
            try:
                answer = self._put(pending)
            except ClientError as error:
                raise ServiceError(no_registry_reason(bus)) from error
            except AccessDeniedError as error:
                # a bus of another account answers AccessDenied when its policy keeps us out
                raise AccessDeniedError(
                    f"{error.reason}; or the pin registry's bus {bus} does not let this "
                    "account in (ImageFactory organization_id)"
                ) from error
            results = answer.get("Entries") or []
            failed = [
                (entry, result)
                for entry, result in zip(pending, results, strict=False)
                if result.get("ErrorCode") or not result.get("EventId")
            ]
            if not failed:
                return
            if self._retrier.calls >= len(entries) + 5:
                entry, result = failed[0]
                raise ServiceError(
                    f"the pin registry {entry.get('EventBusName')} refused the report: "
                    f"{result.get('ErrorCode')}: {result.get('ErrorMessage')}"
                )
            pending = [entry for entry, _ in failed]

    def _put(self, entries: list[dict[str, Any]]) -> Mapping[str, Any]:
        return self._retrier.call(
            "PutEvents", lambda: self._client.put_events(Entries=entries), (BUS_MISSING_CODE,)
        )


def no_registry_reason(bus_arn: str) -> str:
    """The one line for a registry bus that does not exist."""
    parts = bus_arn.split(":")
    where = f"account {parts[4]}, region {parts[3]}" if len(parts) > 4 else bus_arn
    return (
        f"no pin registry at {bus_arn}: protect_pinned_build reports pins to the "
        f"ImageFactory of the image's owner ({where}); deploy one there or turn protection off"
    )
