"""The evaluator behind ``on_newer_build()``: is there a build newer than the stack's pin?

EventBridge invokes it (on Image Builder's "Image State Change" events and on a
schedule) with the lookup's properties, the pin's build ARN, the stack and the
construct path; on an event, also the event's account, region and resources
(``InputKey.TRIGGER``). An event is taken only from the image's account (its
``image_account``, a factory's when forwarded, else the function's own) and for a
build of that account; any other is ignored without a call. It resolves the lookup
exactly as a deploy would and, only when the winner is newer than the pin, puts
one event (``newer_build_event.SOURCE`` / ``DETAIL_TYPE``) on the default bus.

Kept apart from ``handler``: the custom resource's cold start never loads it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from image_lookup.contract import NOT_LOOKUP_KEYS, Attribute
from image_lookup.deadline import Deadline
from image_lookup.errors import AmbiguousImageError, InvalidInputError, NoMatchingImageError
from image_lookup.events_api import put_event
from image_lookup.lookup_runner import lookup_image
from image_lookup.models import LookupRequest
from image_lookup.newer_build_event import DETAIL_TYPE, SOURCE, DetailKey, InputKey, TriggerKey
from image_lookup.properties import parse_properties
from image_lookup.versions import SemVer, parse_build_version

LOGGER = logging.getLogger("image_lookup")


class Outcome:
    """What an evaluation ended in (the ``outcome`` of its result and log line)."""

    NEWER = "newer build announced"
    PINNED_IS_NEWEST = "the pin is the newest qualifying build"
    NO_QUALIFYING_BUILD = "no build qualifies"
    IGNORED = "event ignored: not a build of the image's account"


class Trigger(NamedTuple):
    """The Image Builder event that woke the evaluator: who emitted it, and its build."""

    account: str
    region: str
    build_arn: str


def parse_trigger(value: object) -> Trigger | None:
    """``InputKey.TRIGGER`` (absent on a schedule: None); else InvalidInputError.

    The build is the event's first ``resources`` entry, an image build ARN
    (Image Builder User Guide, "Event messages that Image Builder sends").
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"input {InputKey.TRIGGER} must be an object, got {value!r}")
    account, region = value.get(TriggerKey.ACCOUNT), value.get(TriggerKey.REGION)
    resources = value.get(TriggerKey.RESOURCES)
    if not isinstance(account, str) or not isinstance(region, str):
        raise InvalidInputError(
            f"input {InputKey.TRIGGER} needs the event's account and region, got {value!r}"
        )
    if not isinstance(resources, list) or not resources or not isinstance(resources[0], str):
        raise InvalidInputError(
            f"input {InputKey.TRIGGER} resources must list the build's ARN, got {resources!r}"
        )
    return Trigger(account, region, resources[0])


class Watch:
    """One lookup as ``on_newer_build()`` describes it to the evaluator."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        """Read the evaluator's input; raise InvalidInputError naming what is wrong."""
        if not isinstance(event, Mapping):
            raise InvalidInputError(f"the evaluator's input must be an object, got {event!r}")
        lookup = event.get(InputKey.LOOKUP)
        if not isinstance(lookup, Mapping):
            raise InvalidInputError(f"input {InputKey.LOOKUP} must be an object, got {lookup!r}")
        self.request: LookupRequest = parse_properties(
            {key: value for key, value in lookup.items() if key not in NOT_LOOKUP_KEYS}
        )
        self.pinned_arn = _text(event, InputKey.PINNED_BUILD_ARN)
        self.pinned = build_version_of(self.pinned_arn)
        self.stack = _text(event, InputKey.STACK)
        self.construct_path = _text(event, InputKey.CONSTRUCT_PATH)
        self.trigger = parse_trigger(event.get(InputKey.TRIGGER))

    def ignores(self, own_account: str | None) -> bool:
        """Whether the trigger is not a build of the image's account (the lookup's
        ``image_account``, else ``own_account``): nobody else's builds count."""
        if self.trigger is None:
            return False
        parts = self.trigger.build_arn.split(":")
        if len(parts) != 6 or parts[2] != "imagebuilder" or not parts[5].startswith("image/"):
            return True
        expected = self.request.image_account or own_account or self.trigger.account
        return not self.trigger.account == parts[4] == expected


class BuildVersion(NamedTuple):
    """A build's place in the order: version, then build number; and its text."""

    version: SemVer
    build: int
    text: str


def build_version_of(build_arn: str) -> BuildVersion:
    """``arn:...:image/name/1.2.3/4`` -> ``((1, 2, 3), 4, "1.2.3/4")``; else InvalidInputError."""
    text = "/".join(build_arn.split("/")[-2:])
    parsed = parse_build_version(text)
    if not build_arn.startswith("arn:") or parsed is None:
        raise InvalidInputError(f"pinned build ARN {build_arn!r} does not end in a build version")
    return BuildVersion(parsed[0], parsed[1], text)


def evaluate(event: Mapping[str, Any], context: Any) -> dict[str, str]:
    """Resolve the lookup; announce its winner when newer than the pin. Lambda entry point.

    Failures that retrying may cure (throttling, access, service errors) raise, so
    Lambda's asynchronous invocation retries them; no qualifying build is an answer.
    """
    watch = Watch(event)
    region, account = _function_location(context)
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    result = {"stack": watch.stack, "construct_path": watch.construct_path}
    if watch.trigger is not None:
        result.update(trigger=watch.trigger.build_arn, trigger_account=watch.trigger.account)
        if watch.ignores(account):
            return _finish(result, Outcome.IGNORED)
    deadline = Deadline(remaining_ms if callable(remaining_ms) else None)
    try:
        data = lookup_image(
            watch.request,
            deadline,
            deploy_region=region,
            account_id=account,
            log_context={"evaluation": "newer build", "construct_path": watch.construct_path},
        )
    except (NoMatchingImageError, AmbiguousImageError) as error:
        return _finish(result, Outcome.NO_QUALIFYING_BUILD, reason=error.reason)
    winner_arn = data[Attribute.IMAGE_BUILD_VERSION_ARN]
    winner = build_version_of(winner_arn)
    result.update(pinned=watch.pinned_arn, winner=winner_arn)
    if winner[:2] <= watch.pinned[:2]:
        return _finish(result, Outcome.PINNED_IS_NEWEST)
    detail = {
        DetailKey.STACK: watch.stack,
        DetailKey.CONSTRUCT_PATH: watch.construct_path,
        DetailKey.IMAGE_NAME: data[Attribute.IMAGE_NAME],
        DetailKey.PINNED_BUILD_ARN: watch.pinned_arn,
        DetailKey.PINNED_BUILD_VERSION: watch.pinned.text,
        DetailKey.NEWER_BUILD_ARN: winner_arn,
        DetailKey.NEWER_BUILD_VERSION: data[Attribute.BUILD_VERSION],
        DetailKey.REGION: region or "",
        DetailKey.AMI_ID: data[Attribute.AMI_ID],
        DetailKey.CONTAINER_IMAGE_URI: data[Attribute.CONTAINER_IMAGE_URI],
        DetailKey.DATE_CREATED: data[Attribute.DATE_CREATED],
    }
    event_id = put_event(
        source=SOURCE,
        detail_type=DETAIL_TYPE,
        detail=detail,
        resources=[winner_arn],
        region=region,
        deadline=deadline,
    )
    return _finish(result, Outcome.NEWER, event_id=event_id)


def _finish(result: dict[str, str], outcome: str, **more: str) -> dict[str, str]:
    result.update(outcome=outcome, **more)
    LOGGER.info(json.dumps({"message": "newer build evaluation", **result}))
    return result


def _function_location(context: Any) -> tuple[str | None, str | None]:
    """Region and account from the function's ARN: the stack's, where the rule and bus are."""
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    if len(parts) >= 5 and parts[0] == "arn" and parts[3] and parts[4]:
        return parts[3], parts[4]
    return os.environ.get("AWS_REGION"), None


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"input {key} must be a non-empty string, got {value!r}")
    return value
