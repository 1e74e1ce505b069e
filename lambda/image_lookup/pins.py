"""Who pins which build, and the events that tell a pin registry about it (pure).

A protected lookup does not tag the build it pins: an Image Builder image and an
AMI hold at most 50 tags each, and one tag per pinning stack would fail the
49th. Instead each lookup reports its pin to the *pin registry* of the image's
owner (``ImageFactory``), which records holders in DynamoDB (no such limit) and
keeps one marker tag, ``latest-image-build:protected``, on every build that has
a holder. The same mechanism serves a stack in the factory's own account and a
stack in a workload account of the organization.

The registry is found by convention: the event bus ``latest-image-build-pins``
in the account and region of the build's ARN (where its owner built it). Events
carry the holder; the registry trusts only the ``account`` field EventBridge sets
on delivery (the sender's account), so no account can claim or release another
account's pins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from image_lookup.errors import InvalidInputError, show_value

#: The registry's event bus (and DynamoDB table) name in the factory account.
REGISTRY_NAME = "latest-image-build-pins"
#: ``source`` and ``detail-type`` of pin reports on the registry's bus.
PIN_EVENT_SOURCE = "latest-image-build.pins"
PIN_EVENT_DETAIL_TYPE = "Latest Image Build Pin"
ACQUIRE = "acquire"
RELEASE = "release"
#: A stack's full list of protected pins, sent daily: renews each holder's lease.
RENEW = "renew"
ACTIONS = (ACQUIRE, RELEASE, RENEW)
#: ``{"latest-image-build": "renew-pins", ...}``: the input of a stack's daily renewal rule.
RENEWAL_MARK = "latest-image-build"
RENEWAL_VALUE = "renew-pins"


class Holder(NamedTuple):
    """One lookup: the stack (by id) and the custom resource's logical id."""

    stack_id: str
    logical_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Holder:
        """The holder a custom resource event names (``StackId``, ``LogicalResourceId``)."""
        stack_id = str(event.get("StackId") or "")
        logical_id = str(event.get("LogicalResourceId") or "")
        holder = cls(stack_id, logical_id)
        holder.check()
        return holder

    def check(self) -> None:
        """Raise InvalidInputError unless the stack id is a stack ARN and a logical id is set."""
        parts = self.stack_id.split(":")
        if len(parts) < 6 or parts[0] != "arn" or not parts[4] or not self.logical_id:
            raise InvalidInputError(
                f"cannot tell which stack pins the build: StackId {show_value(self.stack_id)}, "
                f"LogicalResourceId {show_value(self.logical_id)}"
            )

    @property
    def region(self) -> str:
        """The stack's region."""
        return self.stack_id.split(":")[3]

    @property
    def account(self) -> str:
        """The stack's account."""
        return self.stack_id.split(":")[4]

    @property
    def stack_name(self) -> str:
        """``arn:...:stack/<name>/<uuid>`` -> ``<name>``."""
        resource = self.stack_id.split(":", 5)[5]
        parts = resource.split("/")
        return parts[1] if len(parts) >= 2 else resource

    @property
    def key(self) -> str:
        """The holder's key in the registry: unique per stack and lookup."""
        return f"{self.stack_id}|{self.logical_id}"

    def pin(self, build_arn: str) -> Pin:
        """This holder's pin of ``build_arn``."""
        return Pin(self, build_arn)


class Pin(NamedTuple):
    """A holder and the build it pins."""

    holder: Holder
    build_arn: str

    @property
    def registry_bus_arn(self) -> str:
        """The bus of the registry that keeps this build (its owner's, in its region)."""
        return registry_bus_arn(self.build_arn)


def registry_bus_arn(build_arn: str) -> str:
    """``arn:<partition>:events:<build region>:<build account>:event-bus/latest-image-build-pins``.

    Raises InvalidInputError for a build no account of the organization owns
    (Amazon's, a Marketplace seller's): only an image's owner can protect it.
    """
    parts = build_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "imagebuilder":
        raise InvalidInputError(f"not an Image Builder build ARN: {show_value(build_arn)}")
    partition, region, account = parts[1], parts[3], parts[4]
    if not (account.isdigit() and len(account) == 12):
        raise InvalidInputError(
            f"protect_pinned_build needs an image an account of yours owns; build {build_arn} "
            f"belongs to {show_value(account)}, whose lifecycle policies are not yours"
        )
    return f"arn:{partition}:events:{region}:{account}:event-bus/{REGISTRY_NAME}"


def pin_event_entry(
    action: str, stack_id: str, pins: Iterable[Pin], bus_arn: str
) -> dict[str, Any]:
    """One PutEvents entry reporting ``action`` for ``pins`` of one stack to ``bus_arn``.

    An entry holds at most 256 KB (EventBridge API reference, PutEvents): a renewal of a
    stack's 500 pins is far smaller."""
    if action not in ACTIONS:
        raise ValueError(f"unknown pin action {action!r}")
    detail = {
        "action": action,
        "stackId": stack_id,
        "pins": [{"logicalId": p.holder.logical_id, "build": p.build_arn} for p in pins],
    }
    return {
        "Source": PIN_EVENT_SOURCE,
        "DetailType": PIN_EVENT_DETAIL_TYPE,
        "Detail": json.dumps(detail, sort_keys=True),
        "EventBusName": bus_arn,
    }


class PinReport(NamedTuple):
    """A pin report as the registry receives it: who sent it, what it says."""

    action: str
    sender_account: str
    stack_id: str
    pins: tuple[Pin, ...]


def parse_pin_event(event: Mapping[str, Any]) -> PinReport:
    """The report an EventBridge event carries; InvalidInputError for anything else.

    The sender is the event's ``account`` (set by EventBridge, not by the sender);
    a report about a stack of another account is refused.
    """
    detail = event.get("detail")
    if event.get("source") != PIN_EVENT_SOURCE or not isinstance(detail, Mapping):
        raise InvalidInputError(f"not a pin report: source {show_value(event.get('source'))}")
    action = detail.get("action")
    if action not in ACTIONS:
        raise InvalidInputError(f"unknown pin action {show_value(action)}")
    sender = str(event.get("account") or "")
    stack_id = str(detail.get("stackId") or "")
    raw_pins = detail.get("pins")
    if not isinstance(raw_pins, list):
        raise InvalidInputError(f"pin report without a list of pins: {show_value(raw_pins)}")
    stack = Holder(stack_id, "-")
    stack.check()
    if stack.account != sender:
        raise InvalidInputError(
            f"account {show_value(sender)} reported pins of stack {show_value(stack_id)}, "
            "which is another account's"
        )
    pins = []
    for item in raw_pins:
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"pin report with a pin that is no object: {show_value(item)}")
        holder = Holder(stack_id, str(item.get("logicalId") or ""))
        holder.check()
        build = str(item.get("build") or "")
        registry_bus_arn(build)  # an Image Builder build ARN of an account
        pins.append(holder.pin(build))
    return PinReport(str(action), sender, stack_id, tuple(pins))
