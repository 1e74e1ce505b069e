"""Every call the registry makes to DynamoDB: one item per (build, holder).

Table keys: ``Build`` (partition, the build ARN) and ``Holder`` (sort,
``<stack id>|<logical id>``), so a build's holders are one Query. An item holds
its lease's end, ``ExpiresAt``
(epoch seconds): a holder whose lease ended counts for nothing and is deleted
by the sweep. Retries live in ``image_lookup.retry``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from image_lookup import sdk
from image_lookup.deadline import Deadline
from image_lookup.pins import Pin
from image_lookup.retry import DEFAULT_RETRY_POLICY, Retrier, RetryPolicy

BUILD_KEY = "Build"
HOLDER_KEY = "Holder"
STACK_ID = "StackId"
EXPIRES_AT = "ExpiresAt"
#: What DynamoDB answers when a ConditionExpression is false (API reference, DeleteItem).
CONDITION_FAILED = "ConditionalCheckFailedException"


class HolderRecord(NamedTuple):
    """One registry item: a lookup of a stack that pins a build, and its lease."""

    build: str
    holder: str
    stack_id: str
    logical_id: str
    account: str
    region: str
    stack_name: str
    expires_at: int
    acquired_at: str
    renewed_at: str


class PinStore:
    """Reads and writes one registry table through one client and one retrier."""

    def __init__(self, client: Any, table: str, retrier: Retrier) -> None:
        self._client = client
        self._table = table
        self._retrier = retrier

    @classmethod
    def for_table(
        cls,
        table: str,
        region: str | None,
        deadline: Deadline,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    ) -> PinStore:
        """A store with its own client: one SDK attempt per call, bounded timeouts."""
        client = sdk.client("dynamodb", region, policy, "DynamoDB")
        retrier = Retrier(
            deadline,
            client.meta.region_name,
            policy,
            iam_prefix="dynamodb",
            service_title="DynamoDB",
        )
        return cls(client, table, retrier)

    @property
    def calls(self) -> int:
        """Calls sent so far, retries included."""
        return self._retrier.calls

    def put(self, pin: Pin, *, expires_at: int, now: str) -> bool:
        """Record ``pin`` with a lease until ``expires_at``; True when it is a new holder."""
        holder = pin.holder
        answer = self._call(
            "update_item",
            {
                "TableName": self._table,
                "Key": _key(pin.build_arn, holder.key),
                "UpdateExpression": (
                    "SET StackId = :stack, LogicalId = :logical, Account = :account, "
                    "#region = :region, StackName = :name, ExpiresAt = :expires, "
                    "RenewedAt = :now, AcquiredAt = if_not_exists(AcquiredAt, :now)"
                ),
                # "Region" is one of DynamoDB's reserved words (Developer Guide, "Reserved words")
                "ExpressionAttributeNames": {"#region": "Region"},
                "ExpressionAttributeValues": {
                    ":stack": {"S": holder.stack_id},
                    ":logical": {"S": holder.logical_id},
                    ":account": {"S": holder.account},
                    ":region": {"S": holder.region},
                    ":name": {"S": holder.stack_name},
                    ":expires": {"N": str(expires_at)},
                    ":now": {"S": now},
                },
                # the whole item as it was, or nothing: UPDATED_OLD would name only the
                # attributes this update changed, and AcquiredAt never changes
                "ReturnValues": "ALL_OLD",
            },
        )
        return not answer.get("Attributes")

    def delete(self, build: str, holder: str) -> bool:
        """Forget one holder of ``build``; True when it was recorded."""
        answer = self._call(
            "delete_item",
            {"TableName": self._table, "Key": _key(build, holder), "ReturnValues": "ALL_OLD"},
        )
        return bool(answer.get("Attributes"))

    def delete_if_expired(self, build: str, holder: str, now: int) -> bool:
        """Forget one holder whose lease ended by ``now``; False when it was renewed meanwhile."""
        try:
            self._call(
                "delete_item",
                {
                    "TableName": self._table,
                    "Key": _key(build, holder),
                    "ConditionExpression": "ExpiresAt <= :now",
                    "ExpressionAttributeValues": {":now": {"N": str(now)}},
                },
                (CONDITION_FAILED,),
            )
        except ClientError:
            return False
        return True

    def live_holders(self, build: str, now: int) -> int:
        """How many holders of ``build`` have a lease that has not ended (a consistent read)."""
        count = 0
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#build = :build",
            "FilterExpression": "ExpiresAt > :now",
            "ExpressionAttributeNames": {"#build": BUILD_KEY},
            "ExpressionAttributeValues": {":build": {"S": build}, ":now": {"N": str(now)}},
            "ConsistentRead": True,
            "Select": "COUNT",
        }
        for page in self._pages("query", params):
            count += int(page.get("Count") or 0)
        return count

    def expired(self, now: int) -> Iterator[tuple[str, str]]:
        """(build, holder) of every item whose lease ended by ``now``."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "ExpiresAt <= :now",
            "ProjectionExpression": "#build, #holder",
            "ExpressionAttributeNames": {"#build": BUILD_KEY, "#holder": HOLDER_KEY},
            "ExpressionAttributeValues": {":now": {"N": str(now)}},
        }
        for page in self._pages("scan", params):
            for item in page.get("Items") or ():
                yield item[BUILD_KEY]["S"], item[HOLDER_KEY]["S"]

    def holders(self) -> Iterator[HolderRecord]:
        """Every item of the table (the fleet view)."""
        for page in self._pages("scan", {"TableName": self._table}):
            for item in page.get("Items") or ():
                yield holder_record(item)

    def _pages(self, method: str, params: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        while True:
            page = self._call(method, params)
            yield page
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            params = {**params, "ExclusiveStartKey": last}

    def _call(
        self, method: str, params: dict[str, Any], passthrough: tuple[str, ...] = ()
    ) -> Mapping[str, Any]:
        send = getattr(self._client, method)
        return self._retrier.call(sdk.operation_name(method), lambda: send(**params), passthrough)


def holder_record(item: Mapping[str, Any]) -> HolderRecord:
    """A HolderRecord from a DynamoDB item (attribute-value form)."""

    def text(name: str) -> str:
        return str((item.get(name) or {}).get("S", ""))

    expires = (item.get(EXPIRES_AT) or {}).get("N", "0")
    return HolderRecord(
        build=text(BUILD_KEY),
        holder=text(HOLDER_KEY),
        stack_id=text(STACK_ID),
        logical_id=text("LogicalId"),
        account=text("Account"),
        region=text("Region"),
        stack_name=text("StackName"),
        expires_at=int(expires),
        acquired_at=text("AcquiredAt"),
        renewed_at=text("RenewedAt"),
    )


def _key(build: str, holder: str) -> dict[str, dict[str, str]]:
    return {BUILD_KEY: {"S": build}, HOLDER_KEY: {"S": holder}}
