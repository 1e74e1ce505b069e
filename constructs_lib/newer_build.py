"""``on_newer_build()``: an EventBridge rule that fires when a build newer than the pin qualifies.

Wiring only. Two rules invoke the stack's one evaluator function
(``image_lookup.newer_build.evaluate``) with the lookup's properties and its pin:
a rule on Image Builder's own "Image State Change" events and a schedule
(EventBridge delivers the service's events on a best-effort basis, and a
``min_age`` gate passes only some time after the build event). Image Builder's
events reach the stack's default bus for images this account builds in the
stack's region, and, for a factory's images (``image_account`` another account,
owner Shared), when the factory forwards them (``ImageFactoryEvents``): that
rule names the factory's ``account``, so nobody else's events trigger it.
The evaluator resolves the lookup as a deploy would and, only when the winner is
newer than the pin, puts a ``latest-image-build`` event on the default bus; the
rule returned matches that event for this one lookup (stack and construct path).
"""

from __future__ import annotations

import enum
import weakref
from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import Duration, IStableAnyProducer, Lazy, RemovalPolicy, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib._compliance import IAM5, acknowledge_finding, depend_on_policy_only
from constructs_lib._image_reads import ImageReadGrants
from constructs_lib.handler_asset import staged_handler_asset
from image_lookup import contract
from image_lookup.contract import LIST_IMAGES, ImageOwner
from image_lookup.errors import InvalidInputError
from image_lookup.models import arn_name
from image_lookup.newer_build_event import (
    DETAIL_TYPE,
    IMAGE_BUILDER_SOURCE,
    IMAGE_STATE_CHANGE,
    SOURCE,
    TRIGGER_PATHS,
    DetailKey,
    InputKey,
)
from image_lookup.versions import parse_selector

EVALUATOR_ID = "LatestImageBuildNewerBuild"
#: ``on_newer_build()``'s default re-evaluation schedule.
DAILY = events.Schedule.rate(Duration.days(1))
EVALUATOR_TIMEOUT = Duration.minutes(2)
PUT_EVENTS = "events:PutEvents"
_OWNER_VALUES = frozenset(owner.value for owner in ImageOwner)
_EVALUATORS: weakref.WeakKeyDictionary[Stack, NewerBuildEvaluator] = weakref.WeakKeyDictionary()


class NewerBuildEvaluator(Construct):
    """One evaluator function per stack, with a role of its own.

    The role reads Image Builder images as each watched lookup needs (the rule in
    ``image_lookup.contract``, as for the lookup's handler), puts events on the
    stack region's default bus and nothing else, and writes its own log group.
    """

    def __init__(self, scope: Construct, id: str) -> None:
        """Create the function, its role, its policy and its log group."""
        super().__init__(scope, id)
        self._stack = Stack.of(self)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Looks for Image Builder builds newer than LatestImageBuild pins",
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        default_bus = self._stack.format_arn(
            service="events", resource="event-bus", resource_name="default"
        )
        # A policy of the construct's own (not the role's default policy), so the
        # function can depend on it by name: no invocation runs before its grants exist.
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[role],
            statements=[
                iam.PolicyStatement(actions=[LIST_IMAGES], resources=["*"]),
                iam.PolicyStatement(actions=[PUT_EVENTS], resources=[default_bus]),
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_group.log_group_arn],
                ),
            ],
        )
        acknowledge_finding(
            self.policy,
            IAM5,
            "Resource::*",
            "imagebuilder:ListImages has no resource type, so IAM accepts only '*' for it",
        )
        self._image_reads = ImageReadGrants(
            self._stack,
            self.policy.add_statements,
            lambda finding, reason: acknowledge_finding(self.policy, IAM5, finding, reason),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="Announces Image Builder builds newer than LatestImageBuild pins",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="image_lookup.newer_build.evaluate",
            code=lambda_.Code.from_asset(staged_handler_asset()),
            timeout=EVALUATOR_TIMEOUT,
            memory_size=256,
            role=role,
            log_group=log_group,
        )
        depend_on_policy_only(self.function, self.policy)

    @classmethod
    def of(cls, stack: Stack) -> NewerBuildEvaluator:
        """The stack's evaluator, created on first use."""
        evaluator = _EVALUATORS.get(stack)
        if evaluator is None:
            existing = stack.node.try_find_child(EVALUATOR_ID)
            evaluator = (
                existing if isinstance(existing, NewerBuildEvaluator) else cls(stack, EVALUATOR_ID)
            )
            _EVALUATORS[stack] = evaluator
        return evaluator

    def allow_lookup(
        self,
        *,
        owner: str | None,
        region: str | None,
        image_account: str | None,
        include_deprecated: bool,
        gated: bool,
    ) -> None:
        """Grant the image reads a lookup needs, by the contract's rule (``owner`` None: token)."""
        self._image_reads.allow_lookup(
            owner=owner,
            region=region,
            image_account=image_account,
            include_deprecated=include_deprecated,
            gated=gated,
        )


def watch_newer_builds(
    lookup: Construct,
    id: str,
    *,
    properties: Mapping[str, Any],
    pinned_build_arn: str,
    target: events.IRuleTarget | None,
    schedule: events.Schedule | None,
) -> events.Rule:
    """The rule ``LatestImageBuild.on_newer_build()`` returns, and the triggers behind it.

    ``properties`` are the lookup's custom resource properties (None for unset);
    ``pinned_build_arn`` is its pin (a token, or a literal in lock mode).
    """
    if schedule is not None and not isinstance(schedule, events.Schedule):
        raise InvalidInputError(
            f"on_newer_build({id!r}) schedule must be an events.Schedule or None, got {schedule!r}"
        )
    stack = Stack.of(lookup)
    owner = properties.get(contract.OWNER.key) or ImageOwner.SELF.value
    known_owner = owner if owner in _OWNER_VALUES else None
    region = properties.get(contract.REGION.key)
    image_account = properties.get(contract.IMAGE_ACCOUNT.key)
    events_from = image_events_source(known_owner, region, image_account, stack)
    if schedule is None and events_from is EventsFrom.NONE:
        raise InvalidInputError(
            f"on_newer_build({id!r}, schedule=None) would never run: Image Builder's events "
            f"reach this bus only for this account's own images in the stack's region or a "
            f"factory's forwarded ones (owner Shared with image_account), and this lookup "
            f"(owner {owner!r}, region {region!r}, image_account {image_account!r}) is neither; "
            f"keep a schedule"
        )
    rule = events.Rule(
        lookup,
        id,
        description=f"A build newer than the pin qualifies for {lookup.node.path}",
        event_pattern=events.EventPattern(
            source=[SOURCE],
            detail_type=[DETAIL_TYPE],
            # the evaluator's own account: another account allowed on this bus can't fake it
            account=[stack.account],
            detail={
                DetailKey.STACK: [stack.stack_name],
                DetailKey.CONSTRUCT_PATH: [lookup.node.path],
            },
        ),
        targets=[target] if target is not None else None,
    )
    evaluator = NewerBuildEvaluator.of(stack)
    evaluator.allow_lookup(
        owner=known_owner,
        region=region,
        image_account=image_account,
        include_deprecated=bool(properties.get(contract.INCLUDE_DEPRECATED.key)),
        gated=any(
            properties.get(prop.key)
            for prop in (contract.REQUIRE_TAGS, contract.EXCLUDE_TAGS, contract.MIN_AGE_SECONDS)
        ),
    )
    watch = {
        # read at synth: a flag an adapter adds later (RequireAmi) is included
        InputKey.LOOKUP: Lazy.any(_LookupProperties(properties)),
        InputKey.PINNED_BUILD_ARN: pinned_build_arn,
        InputKey.STACK: stack.stack_name,
        InputKey.CONSTRUCT_PATH: lookup.node.path,
    }
    if events_from is not EventsFrom.NONE:
        # the event's account, region and build ARN ride along (an input transformer),
        # so the evaluator can check and log what woke it
        trigger = {key: events.EventField.from_path(path) for key, path in TRIGGER_PATHS.items()}
        events.Rule(
            rule,
            "OnImageBuilderEvent",
            description=f"Image Builder made a build available: evaluate {lookup.node.path}",
            event_pattern=image_events_pattern(stack, properties, events_from),
            targets=[
                targets.LambdaFunction(
                    evaluator.function,
                    event=events.RuleTargetInput.from_object({**watch, InputKey.TRIGGER: trigger}),
                )
            ],
        )
    if schedule is not None:
        events.Rule(
            rule,
            "OnSchedule",
            description=f"Evaluate {lookup.node.path} on a schedule",
            schedule=schedule,
            targets=[
                targets.LambdaFunction(
                    evaluator.function, event=events.RuleTargetInput.from_object(watch)
                )
            ],
        )
    return rule


@jsii.implements(IStableAnyProducer)
class _LookupProperties:
    """The lookup's properties the evaluator needs, as they stand when the app synthesizes."""

    def __init__(self, properties: Mapping[str, Any]) -> None:
        self._properties = properties

    def produce(self) -> Any:
        """Every set property but the deploy's own switches."""
        return {
            key: value
            for key, value in self._properties.items()
            if value is not None and key not in contract.NOT_LOOKUP_KEYS
        }


class EventsFrom(enum.Enum):
    """Whose Image Builder events reach the stack's default bus for a lookup."""

    NONE = "none"  # Amazon's, Marketplace images, another region's own images
    OWN = "own"  # this account's builds in the stack's region
    FACTORY = "factory"  # image_account's builds, forwarded by ImageFactoryEvents


def image_events_source(
    owner: str | None, region: str | None, image_account: str | None, stack: Stack
) -> EventsFrom:
    """Whose Image Builder events for the lookup's image reach the stack's default bus.

    Image Builder sends them to the default bus of the account and region that
    build the image. Another account's (a factory's) arrive only when it forwards
    them, which ``ImageFactoryEvents`` does for owner Shared lookups that name it
    in ``image_account`` (from any region: the forwarder targets this region's bus).
    ``owner`` None: a token, which could be Self.
    """
    foreign = bool(image_account) and (
        Token.is_unresolved(image_account)
        or Token.is_unresolved(stack.account)
        or image_account != stack.account
    )
    if foreign:
        shared = owner in (None, ImageOwner.SHARED.value, ImageOwner.SELF.value)
        return EventsFrom.FACTORY if shared and image_account != "aws" else EventsFrom.NONE
    if owner is not None and owner != ImageOwner.SELF.value:
        return EventsFrom.NONE
    other_region = (
        region
        and region != stack.region
        and not Token.is_unresolved(region)
        and not Token.is_unresolved(stack.region)
    )
    return EventsFrom.NONE if other_region else EventsFrom.OWN


def image_events_pattern(
    stack: Stack, properties: Mapping[str, Any], events_from: EventsFrom = EventsFrom.OWN
) -> events.EventPattern:
    """Image Builder's "Image State Change" to AVAILABLE, for builds of the lookup's image.

    The event's ``resources`` holds the build's ARN (Image Builder User Guide, "Event
    messages that Image Builder sends"), so a prefix narrows it to the image and to
    the selector's fixed part, where name and selector are literals. The prefix is
    the selector as written: a version the service writes with other leading zeros
    (``1.02.0`` for ``1.2.x``) is left to the schedule. A factory's events are
    matched on ``account`` too (the account that emitted them, kept across buses),
    and the ARN is the image's region's (``region``, default the stack's).
    """
    if events_from is EventsFrom.FACTORY:
        account = properties[contract.IMAGE_ACCOUNT.key]
        region = properties.get(contract.REGION.key) or stack.region
    else:
        account = properties.get(contract.IMAGE_ACCOUNT.key) or stack.account
        region = stack.region
    prefix = f"arn:{stack.partition}:imagebuilder:{region}:{account}:image/"
    name = properties[contract.IMAGE_NAME.key]
    selector = properties.get(contract.VERSION_SELECTOR.key) or contract.DEFAULT_SELECTOR
    if not Token.is_unresolved(name):
        prefix += f"{arn_name(name)}/"
        if not Token.is_unresolved(selector):
            fixed_nodes = selector.split(".")[: len(parse_selector(selector).fixed)]
            prefix += "".join(f"{node}." for node in fixed_nodes)
            if len(fixed_nodes) == 3:
                prefix = f"{prefix[:-1]}/"  # 1.2.3 -> ".../1.2.3/", the builds of that version
    return events.EventPattern(
        source=[IMAGE_BUILDER_SOURCE],
        detail_type=[IMAGE_STATE_CHANGE],
        account=[account] if events_from is EventsFrom.FACTORY else None,
        detail={"state": {"status": ["AVAILABLE"]}},
        resources=events.Match.prefix(prefix),
    )
