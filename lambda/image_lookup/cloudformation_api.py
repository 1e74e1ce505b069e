"""The handler's only CloudFormation reads: the stack's status, events and lookups.

Status and events tell a rollback from an ordinary update, and which build the
stack had before the update that failed; the stack's lookups are what a pin
renewal reports. All are read from the stack the event names (its StackId),
which is all the function's role may read. Every call goes through the shared
``Retrier`` (throttling, 5xx and dropped connections retried under the deadline);
CloudFormation throttles with ``Throttling`` over HTTP 400, which is in its list.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from image_lookup import sdk
from image_lookup.deadline import Deadline
from image_lookup.retry import DEFAULT_RETRY_POLICY, Retrier, RetryPolicy

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient


class StackEvent(NamedTuple):
    """One DescribeStackEvents entry, as much of it as a rollback needs."""

    logical_id: str
    resource_type: str
    status: str
    physical_id: str


class CloudFormationGateway:
    """Reads one stack's status, events and resources through one client and one retrier."""

    def __init__(self, client: CloudFormationClient, retrier: Retrier) -> None:
        self._client = client
        self._retrier = retrier

    @classmethod
    def for_stack(
        cls,
        region: str | None,
        deadline: Deadline,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> CloudFormationGateway:
        """A gateway with its own client: one SDK attempt per call, retried under ``deadline``.

        ``jitter`` is the retrier's: its first draw places the first call in the spread.
        """
        client: CloudFormationClient = sdk.client(
            "cloudformation", region, policy, "CloudFormation"
        )
        retrier = Retrier(
            deadline,
            client.meta.region_name,
            policy,
            iam_prefix="cloudformation",
            service_title="CloudFormation",
            jitter=jitter,
        )
        return cls(client, retrier)

    @property
    def calls(self) -> int:
        """Calls sent so far, retries included."""
        return self._retrier.calls

    @property
    def retries(self) -> int:
        """Calls that were retries (after a throttle, a 5xx or a dropped connection)."""
        return self._retrier.retries

    def stack_status(self, stack_id: str) -> str:
        """The stack's StackStatus, e.g. ``UPDATE_ROLLBACK_IN_PROGRESS``."""
        answer = self._call("describe_stacks", {"StackName": stack_id})
        stacks = answer.get("Stacks") or []
        return str(stacks[0].get("StackStatus", "")) if stacks else ""

    def events(self, stack_id: str) -> Iterator[StackEvent]:
        """The stack's events, newest first (DescribeStackEvents' order), page by page.

        No page cap: the caller stops iterating when it has what it needs, and the
        deadline bounds the rest.
        """
        for item in self._paginate("describe_stack_events", "StackEvents", stack_id):
            yield _event(item)

    def resources_of_type(self, stack_id: str, resource_type: str) -> Iterator[tuple[str, str]]:
        """(logical id, physical id) of every resource of ``resource_type`` (ListStackResources)."""
        for item in self._paginate("list_stack_resources", "StackResourceSummaries", stack_id):
            if item.get("ResourceType") == resource_type:
                yield (
                    str(item.get("LogicalResourceId") or ""),
                    str(item.get("PhysicalResourceId") or ""),
                )

    def _paginate(self, method: str, key: str, stack_id: str) -> Iterator[Mapping[str, Any]]:
        params: dict[str, Any] = {"StackName": stack_id}
        while True:
            page = self._call(method, params)
            for item in page.get(key) or []:
                if isinstance(item, Mapping):
                    yield item
            token = page.get("NextToken")
            if not token:
                return
            params = {**params, "NextToken": token}

    def _call(self, method: str, params: dict[str, Any]) -> Mapping[str, Any]:
        send: Callable[..., Mapping[str, Any]] = getattr(self._client, method)
        return self._retrier.call(sdk.operation_name(method), lambda: send(**params))


def _event(item: Mapping[str, Any]) -> StackEvent:
    return StackEvent(
        logical_id=str(item.get("LogicalResourceId") or ""),
        resource_type=str(item.get("ResourceType") or ""),
        status=str(item.get("ResourceStatus") or ""),
        physical_id=str(item.get("PhysicalResourceId") or ""),
    )
