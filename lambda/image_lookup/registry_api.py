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
#: The entry errors PutEvents calls retryable (API reference, PutEventsResultEntry).
RETRYABLE_ENTRY_CODES = frozenset({"ThrottlingException", "InternalFailure"})


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
        ``ErrorCode`` / ``ErrorMessage`` (API reference, PutEvents and
        PutEventsResultEntry). Entries that failed with a retryable code are sent
        again, with backoff, under the same deadline; any other code fails at once.
        """
        pending = [dict(entry) for entry in entries]
        bus = str(pending[0].get("EventBusName", "")) if pending else ""
        refused: list[Mapping[str, Any]] = []

        def entry_failure(answer: Mapping[str, Any]) -> str | None:
            nonlocal pending
            results = answer.get("Entries") or []
            failed = [
                (entry, result)
                for entry, result in zip(pending, results, strict=False)
                if result.get("ErrorCode") or not result.get("EventId")
            ]
            codes = [result.get("ErrorCode") for _, result in failed]
            refused[:] = [r for _, r in failed if r.get("ErrorCode") not in RETRYABLE_ENTRY_CODES]
            if refused or not failed:
                return None
            pending = [entry for entry, _ in failed]
            return str(codes[0])

        try:
            self._retrier.call(
                "PutEvents",
                lambda: self._client.put_events(Entries=pending),
                (BUS_MISSING_CODE,),
                answer_failure=entry_failure,
            )
        except ClientError as error:
            raise ServiceError(no_registry_reason(bus)) from error
        except AccessDeniedError as error:
            # a bus of another account answers AccessDenied when its policy keeps us out
            raise AccessDeniedError(
                f"{error.reason}; or the pin registry's bus {bus} does not let this "
                "account in (ImageFactory organization_id)"
            ) from error
        if refused:
            raise ServiceError(
                f"the pin registry {bus} refused the report: "
                f"{refused[0].get('ErrorCode') or 'no EventId'}: {refused[0].get('ErrorMessage')}"
            )


def no_registry_reason(bus_arn: str) -> str:
    """The one line for a registry bus that does not exist."""
    parts = bus_arn.split(":")
    where = f"account {parts[4]}, region {parts[3]}" if len(parts) > 4 else bus_arn
    return (
        f"no pin registry at {bus_arn}: protect_pinned_build reports pins to the "
        f"ImageFactory of the image's owner ({where}); deploy one there or turn protection off"
    )
