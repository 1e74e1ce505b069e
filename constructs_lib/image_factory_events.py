"""Image Builder's build events from the factory account to the organization's workload accounts.

Image Builder puts "EC2 Image Builder Image State Change" on the default bus of the
account and region that build the image, and nowhere else, so a workload account's
``on_newer_build()`` hears of the factory's builds only if the factory forwards them:

* ``ImageFactoryEvents`` (factory side) is a rule on the factory's default bus for its
  own Image Builder events, whose targets are the workload accounts' default buses
  (one per account and region) or a central bus. The receiving buses grant by
  organization, so each target carries an IAM role: "If you grant permissions using
  an organization, then accounts in that organization must specify a RoleArn with
  proper permissions when they use PutTargets to add your account's event bus as a
  target" (EventBridge API Reference, PutPermission). A rule has at most 5 targets
  (EventBridge quotas, "Targets per rule"), so the targets come in rules of 5, each
  with a role that may put events on its own 5 buses only.
* ``ImageFactoryEventsPolicy`` (workload side, once per account and region) is the
  receiving bus's resource policy: ``events:PutEvents`` for principals of the
  organization (``aws:PrincipalOrgID``), optionally of the factory account only.
  ``on_newer_build()``'s rules name the factory's ``account`` as well, as
  PutPermission advises for a bus open to more than one account.

Wiring only; inputs are checked at synth (tokens pass through to deploy).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Names, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from image_lookup.errors import InvalidInputError, show_value
from image_lookup.newer_build_event import IMAGE_BUILDER_SOURCE, IMAGE_STATE_CHANGE
from image_lookup.properties import validate_region

#: Image Builder's ``ImageStatus`` values (botocore ``imagebuilder`` service model).
IMAGE_STATUSES = frozenset(
    {
        "PENDING",
        "CREATING",
        "BUILDING",
        "TESTING",
        "DISTRIBUTING",
        "INTEGRATING",
        "AVAILABLE",
        "CANCELLED",
        "FAILED",
        "DEPRECATED",
        "DELETED",
        "DISABLED",
    }
)
#: EventBridge quota "Targets per rule" (not adjustable).
TARGETS_PER_RULE = 5
PUT_EVENTS = "events:PutEvents"
#: Organizations ``OrganizationId`` pattern (botocore ``organizations`` model).
_ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")
_ACCOUNT = re.compile(r"\d{12}")
#: An event bus ARN; the name as botocore's ``EventBusName`` shape allows.
_BUS_ARN = re.compile(r"arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[/.\-_A-Za-z0-9]{1,256}")
_BUS_NAME = re.compile(r"[/.\-_A-Za-z0-9]{1,256}")


class ImageFactoryEvents(Construct):
    """Forward the factory's Image Builder state changes to workload accounts or a central bus.

    Put it in the stack of the account and region that build the images (the
    pipelines' region). ``on_newer_build()`` of a workload stack that looks up the
    factory's images (``owner=ImageOwner.SHARED, image_account=<factory>``) hears
    them once the workload bus allows them (``ImageFactoryEventsPolicy``, or
    ``allow_in()``). Events arriving from another account are not forwarded
    again: EventBridge does not pass events received from a sender account on to
    a third account (EventBridge User Guide, "Sending and receiving events between
    AWS accounts"), so a central bus is an end, not a relay to workload accounts.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        organization_id: str,
        target_accounts: Sequence[str] | None = None,
        target_regions: Sequence[str] | None = None,
        central_bus_arn: str | None = None,
        statuses: Sequence[str] | None = ("AVAILABLE",),
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> None:
        """Create the forwarding rules and their roles.

        :param organization_id: the AWS Organizations id (``o-`` and 10-32 lowercase
            letters or digits) of the factory and its workload accounts; the receiving
            policies (``allow_in()``) grant by it. Required.
        :param target_accounts: workload accounts (12 digits each) whose default buses
            receive the events. Default: none (then ``central_bus_arn`` is required).
        :param target_regions: the regions of those default buses: where the workload
            stacks that call ``on_newer_build()`` deploy (cross-Region delivery).
            Default: this stack's region.
        :param central_bus_arn: one more destination, any event bus by ARN
            (``arn:aws:events:<region>:<account>:event-bus/<name>``). Default: none.
        :param statuses: forward state changes to these Image Builder statuses only
            (``ImageStatus`` values); ``None`` forwards every state change. Default:
            ``("AVAILABLE",)``, the one ``on_newer_build()`` listens for.
        :param dead_letter_queue: where EventBridge puts events it could not deliver
            (e.g. a workload bus without the policy). Default: none, such events are
            dropped after EventBridge's retries.
        :raises ValueError: a bad literal, or no destination at all; the message
            names the value.
        """
        super().__init__(scope, id)
        stack = Stack.of(self)
        check_organization_id(organization_id)
        accounts = _accounts("target_accounts", target_accounts)
        regions = _regions(target_regions) if target_regions is not None else [stack.region]
        if central_bus_arn is not None:
            check_bus_arn("central_bus_arn", central_bus_arn)
        if not accounts and central_bus_arn is None:
            raise InvalidInputError(
                f"ImageFactoryEvents {id!r} has no destination: give target_accounts "
                f"(got {show_value(target_accounts)}) or central_bus_arn"
            )
        if statuses is not None:
            _check_statuses(statuses)
        self.organization_id = organization_id
        #: The account whose Image Builder events are forwarded (this stack's).
        self.factory_account = stack.account
        #: Every destination bus's ARN, in the order of the rules' targets.
        self.destination_bus_arns: list[str] = [
            workload_bus_arn(stack, account, region) for account in accounts for region in regions
        ]
        _reject_own_bus(stack, accounts, regions)
        if central_bus_arn is not None:
            self.destination_bus_arns.append(central_bus_arn)
        self.event_pattern = factory_events_pattern(stack.account, statuses)
        #: The forwarding rules, each with up to 5 targets and a role of its own.
        self.rules: list[events.Rule] = []
        for index in range(0, len(self.destination_bus_arns), TARGETS_PER_RULE):
            self.rules.append(
                self._forwarding_rule(
                    len(self.rules),
                    self.destination_bus_arns[index : index + TARGETS_PER_RULE],
                    dead_letter_queue,
                )
            )

    def _forwarding_rule(
        self, number: int, bus_arns: Sequence[str], dead_letter_queue: sqs.IQueue | None
    ) -> events.Rule:
        rule = events.Rule(
            self,
            f"Forward{number}",
            description="Forwards this account's Image Builder image state changes",
            event_pattern=self.event_pattern,
        )
        role = iam.Role(
            rule,
            "Role",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Puts this account's Image Builder events on the organization's buses",
        )
        for index, bus_arn in enumerate(bus_arns):
            bus = events.EventBus.from_event_bus_arn(rule, f"Bus{index}", bus_arn)
            # the target grants the role events:PutEvents on this bus only
            rule.add_target(targets.EventBus(bus, role=role, dead_letter_queue=dead_letter_queue))
        return rule

    def allow_in(
        self, scope: Construct, id: str, *, event_bus_name: str = "default"
    ) -> ImageFactoryEventsPolicy:
        """The receiving policy for a workload stack of the same app: this factory's account
        and organization may put events on that stack's bus (``event_bus_name``, default
        ``default``)."""
        return ImageFactoryEventsPolicy(
            scope,
            id,
            organization_id=self.organization_id,
            factory_account=self.factory_account,
            event_bus_name=event_bus_name,
        )


class ImageFactoryEventsPolicy(Construct):
    """The receiving side: a bus policy that lets the organization's factory put events.

    One per account and region (a bus policy belongs to the bus, not to a stack):
    put it in the workload account's baseline stack, or in the central account for
    the central bus. The statement is EventBridge's "allow all accounts of an
    organization" form (User Guide, "Permissions for event buses"): ``Principal``
    ``*`` with ``aws:PrincipalOrgID``, or the factory account's principals with it;
    for Image Builder's "EC2 Image Builder Image State Change" only (``events:source``,
    ``events:detail-type``), so no account of the organization can put, say, a forged
    "Newer Image Build Available" on the workload's bus.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        organization_id: str,
        factory_account: str | None = None,
        event_bus_name: str = "default",
    ) -> None:
        """Create the bus policy.

        :param organization_id: the organization (``o-...``) whose principals may put
            events. Required.
        :param factory_account: only principals of this account (12 digits) of the
            organization. Default: any account of the organization (the rules of
            ``on_newer_build()`` still listen to the factory's account only).
        :param event_bus_name: the receiving bus in this stack's account and region.
            Default: ``default``.
        :raises ValueError: a bad literal; the message names the value.
        """
        super().__init__(scope, id)
        stack = Stack.of(self)
        check_organization_id(organization_id)
        if factory_account is not None:
            check_account("factory_account", factory_account)
        if not Token.is_unresolved(event_bus_name) and not _BUS_NAME.fullmatch(event_bus_name):
            raise InvalidInputError(f"invalid event_bus_name {show_value(event_bus_name)}")
        principal: object = (
            "*"
            if factory_account is None
            else {"AWS": f"arn:{stack.partition}:iam::{factory_account}:root"}
        )
        self.policy = events.CfnEventBusPolicy(
            self,
            "Policy",
            event_bus_name=event_bus_name,
            statement_id=Names.unique_resource_name(
                self, max_length=64, allowed_special_characters="-_"
            ),
            statement={
                "Effect": "Allow",
                "Principal": principal,
                "Action": PUT_EVENTS,
                "Resource": stack.format_arn(
                    service="events", resource="event-bus", resource_name=event_bus_name
                ),
                # Image Builder's state changes only: the organization's principals can put
                # nothing else here (User Guide, "Example policy: Send events to a custom bus
                # in a different account": events:source, events:detail-type)
                "Condition": {
                    "StringEquals": {
                        "aws:PrincipalOrgID": organization_id,
                        "events:detail-type": IMAGE_STATE_CHANGE,
                    },
                    "ForAllValues:StringEquals": {"events:source": [IMAGE_BUILDER_SOURCE]},
                },
            },
        )


def factory_events_pattern(account: str, statuses: Sequence[str] | None) -> events.EventPattern:
    """Image Builder's image state changes of ``account`` (to ``statuses``, when given)."""
    return events.EventPattern(
        source=[IMAGE_BUILDER_SOURCE],
        detail_type=[IMAGE_STATE_CHANGE],
        account=[account],
        detail={"state": {"status": list(statuses)}} if statuses is not None else None,
    )


def workload_bus_arn(stack: Stack, account: str, region: str) -> str:
    """The default event bus of ``account`` in ``region``."""
    return f"arn:{stack.partition}:events:{region}:{account}:event-bus/default"


def check_organization_id(value: object) -> None:
    """``o-`` and 10-32 lowercase letters or digits, or a token; else ValueError."""
    if isinstance(value, str) and (_ORGANIZATION_ID.fullmatch(value) or Token.is_unresolved(value)):
        return
    raise InvalidInputError(
        f"invalid organization_id {show_value(value)}: 'o-' and 10-32 lowercase letters or digits"
    )


def check_account(prop: str, value: object) -> None:
    """12 digits, or a token; else ValueError naming ``prop`` and the value."""
    if isinstance(value, str) and (_ACCOUNT.fullmatch(value) or Token.is_unresolved(value)):
        return
    raise InvalidInputError(f"invalid {prop} account {show_value(value)}: 12 digits")


def check_bus_arn(prop: str, value: object) -> None:
    """An event bus ARN, or a token; else ValueError naming ``prop`` and the value."""
    if isinstance(value, str) and (_BUS_ARN.fullmatch(value) or Token.is_unresolved(value)):
        return
    raise InvalidInputError(
        f"invalid {prop} {show_value(value)}: "
        "arn:aws:events:<region>:<12-digit account>:event-bus/<name>"
    )


def _accounts(prop: str, values: Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        raise InvalidInputError(f"{prop} must be a list of accounts, got {show_value(values)}")
    seen: set[str] = set()
    for value in values:
        check_account(prop, value)
        if value in seen:
            raise InvalidInputError(f"{prop} lists account {show_value(value)} twice")
        seen.add(value)
    return list(values)


def _regions(values: Sequence[str]) -> list[str]:
    if isinstance(values, str) or not values:
        raise InvalidInputError(
            f"target_regions must be a non-empty list of regions, got {show_value(values)}"
        )
    for value in values:
        if not isinstance(value, str):
            raise InvalidInputError(f"invalid target_regions region {show_value(value)}")
        if not Token.is_unresolved(value):
            validate_region(value)
    if len(set(values)) != len(values):
        raise InvalidInputError(f"target_regions lists a region twice: {show_value(values)}")
    return list(values)


def _check_statuses(statuses: Sequence[str]) -> None:
    if isinstance(statuses, str) or not statuses:
        raise InvalidInputError(
            f"statuses must be a non-empty list of Image Builder statuses or None, "
            f"got {show_value(statuses)}"
        )
    for status in statuses:
        if status not in IMAGE_STATUSES:
            raise InvalidInputError(
                f"invalid statuses value {show_value(status)}: "
                f"one of {', '.join(sorted(IMAGE_STATUSES))}"
            )


def _reject_own_bus(stack: Stack, accounts: Sequence[str], regions: Sequence[str]) -> None:
    """The factory's own default bus in its own region already has the events."""
    if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
        return
    if stack.account in accounts and stack.region in regions:
        raise InvalidInputError(
            f"target_accounts lists this stack's own account {stack.account!r} and "
            f"target_regions its own region {stack.region!r}: that bus has the events already"
        )
