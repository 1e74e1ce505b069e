"""The handler's only CloudFormation reads: the stack's status, events and lookups.

Status and events tell a rollback from an ordinary update, and which build the
stack had before the update that failed; the stack's lookups are what a pin
renewal reports. All are read from the stack the event names (its StackId),
which is all the function's role may read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.config import Config

from image_lookup import sdk
from image_lookup.deadline import Deadline

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

#: A long-lived stack has thousands of events; the ones a rollback needs are recent.
MAX_EVENT_PAGES = 20


class StackEvent(NamedTuple):
    """One DescribeStackEvents entry, as much of it as a rollback needs."""

    logical_id: str
    resource_type: str
    status: str
    physical_id: str


class CloudFormationGateway:
    """Reads one stack's status and events; every failure is the caller's to absorb."""

    def __init__(self, client: CloudFormationClient) -> None:
        self._client = client
        self.calls = 0

    @classmethod
    def for_stack(cls, region: str | None, deadline: Deadline) -> CloudFormationGateway:
        """A client whose timeouts and retries fit in what is left of ``deadline``."""
        budget = max(1.0, min(10.0, deadline.seconds_left() / 3))
        config = Config(
            connect_timeout=min(3.0, budget),
            read_timeout=budget,
            # CloudFormation's throttling codes are in the standard mode's list; a read
            # that still fails is absorbed by the caller, so few attempts are enough.
            retries={"total_max_attempts": 2, "mode": "standard"},
        )
        client = sdk.session().client("cloudformation", region_name=region, config=config)
        return cls(client)

    def stack_status(self, stack_id: str) -> str:
        """The stack's StackStatus, e.g. ``UPDATE_ROLLBACK_IN_PROGRESS``."""
        self.calls += 1
        answer = self._client.describe_stacks(StackName=stack_id)
        stacks = answer.get("Stacks") or []
        return str(stacks[0].get("StackStatus", "")) if stacks else ""

    def events(self, stack_id: str) -> Iterator[StackEvent]:
        """The stack's events, newest first (DescribeStackEvents' order), page by page."""
        params: dict[str, Any] = {"StackName": stack_id}
        for _ in range(MAX_EVENT_PAGES):
            self.calls += 1
            page = self._client.describe_stack_events(**params)
            for item in page.get("StackEvents") or []:
                yield _event(item)
            token = page.get("NextToken")
            if not token:
                return
            params["NextToken"] = token


    def resources_of_type(self, stack_id: str, resource_type: str) -> Iterator[tuple[str, str]]:
        """(logical id, physical id) of every resource of ``resource_type`` (ListStackResources)."""
        params: dict[str, Any] = {"StackName": stack_id}
        while True:
            self.calls += 1
            page = self._client.list_stack_resources(**params)
            for item in page.get("StackResourceSummaries") or []:
                if item.get("ResourceType") == resource_type:
                    yield str(item.get("LogicalResourceId") or ""), str(item.get("PhysicalResourceId") or "")
            token = page.get("NextToken")
            if not token:
                return
            params["NextToken"] = token


def _event(item: Mapping[str, Any]) -> StackEvent:
    return StackEvent(
        logical_id=str(item.get("LogicalResourceId") or ""),
        resource_type=str(item.get("ResourceType") or ""),
        status=str(item.get("ResourceStatus") or ""),
        physical_id=str(item.get("PhysicalResourceId") or ""),
    )
