"""``ImageFactory``: the image owner's side of protection (wiring only).

In the account (and each region) that builds the images: the pin registry's
event bus ``latest-image-build-pins``, open to the organization's accounts for
pin reports only; the registry's DynamoDB table of holders; the registry
function (``pin_registry.handler``), invoked by a rule on that bus and by a
daily sweep of ended leases; and the IAM that lets it put and take off one tag,
``latest-image-build:protected``, on this account's builds and AMIs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import jsii
from aws_cdk import Aspects, Duration, IAspect, RemovalPolicy, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_imagebuilder as imagebuilder
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from constructs_lib import protection
from constructs_lib._compliance import IAM5, acknowledge_finding, depend_on_policy_only
from constructs_lib.handler_asset import staged_registry_asset
from constructs_lib.image_factory_events import ImageFactoryEvents
from constructs_lib.lookup_provider import LookupProvider
from image_lookup.errors import InvalidInputError, show_value
from image_lookup.pins import PIN_EVENT_DETAIL_TYPE, PIN_EVENT_SOURCE, REGISTRY_NAME
from image_lookup.protection import (
    AMI_READ_ACTION,
    AMI_TAG_ACTIONS,
    BUILD_READ_ACTION,
    BUILD_TAG_ACTIONS,
    TAG_PREFIX,
)
from pin_registry.handler import LEASE_ENV, TABLE_ENV
from pin_registry.store_api import BUILD_KEY, HOLDER_KEY

#: AWS Organizations ids: ``o-`` and 10 to 32 lowercase letters or digits
#: (Organizations API reference, Organization.Id).
ORGANIZATION_ID_PATTERN = re.compile(r"^o-[a-z0-9]{10,32}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
#: The tag conditions of every tag statement: only the library's keys, and at least one key.
#: ``ForAllValues`` alone is true for a request with no keys, and EC2's DeleteTags
#: without ``Tags`` deletes every tag of the AMI (EC2 API reference, DeleteTags; IAM
#: User Guide, "Single-valued vs. multivalued context keys").
ONLY_LIBRARY_TAG_KEYS = {
    "ForAllValues:StringLike": {"aws:TagKeys": [f"{TAG_PREFIX}*"]},
    "Null": {"aws:TagKeys": "false"},
}
REGISTRY_TIMEOUT = Duration.minutes(2)
SWEEP_SCHEDULE = events.Schedule.rate(Duration.days(1))


class ImageFactory(Construct):
    """The pin registry of the account that builds (and shares) the images.

    Deploy one in each region the factory builds images in: a lookup reports its
    pin to the registry in the build's account and region.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        organization_id: str,
        distribution_regions: Sequence[str] | None = None,
        holder_lease: Duration | None = None,
        table_removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        workload_accounts: Sequence[str] | None = None,
        workload_regions: Sequence[str] | None = None,
        central_bus_arn: str | None = None,
    ) -> None:
        """Define the registry.

        :param organization_id: the AWS Organization (``o-...``) whose accounts may
            report pins. Required.
        :param distribution_regions: the regions this factory's distribution
            configurations copy AMIs to (the registry tags its own AMIs there).
            Default: any region.
        :param holder_lease: how long a holder counts without renewal; each protecting
            stack renews daily. Default ``Duration.days(3)``.
        :param table_removal_policy: what happens to the holders table when the
            construct is removed. Default ``RemovalPolicy.RETAIN``.
        :param workload_accounts: accounts whose default buses hear of this factory's new
            builds (``ImageFactoryEvents``), so their ``on_newer_build()`` rules fire.
            Default: none.
        :param workload_regions: the regions of those buses. Default: ``distribution_regions``
            when given, else this stack's region.
        :param central_bus_arn: one more event bus that hears of new builds. Default: none.
        :raises ValueError: an invalid literal value; the message names it.
        """
        regions = _check_regions(distribution_regions)
        _check_organization_id(organization_id)
        lease = holder_lease or Duration.days(3)
        if lease.to_seconds() < 2 * 24 * 3600:
            raise InvalidInputError(
                f"ImageFactory holder_lease {lease.to_human_string()} is too short: stacks "
                "renew daily, so a lease needs at least Duration.days(2)"
            )
        super().__init__(scope, id)
        stack = Stack.of(self)
        #: The forwarding of Image Builder's events (``ImageFactoryEvents``), when asked for.
        self.events: ImageFactoryEvents | None = None
        if workload_accounts or central_bus_arn:
            try:
                self.events = ImageFactoryEvents(
                    self,
                    "Events",
                    organization_id=organization_id,
                    target_accounts=workload_accounts,
                    target_regions=workload_regions or list(regions) or None,
                    central_bus_arn=central_bus_arn,
                )
            except ValueError:
                scope.node.try_remove_child(id)  # a bad value leaves nothing behind
                raise

        self.event_bus = events.EventBus(self, "PinReports", event_bus_name=REGISTRY_NAME)
        # The bus's own Policy property (AWS::Events::EventBus): an AWS::Events::EventBusPolicy
        # makes cdk-nag read that resource's deprecated ``principal`` (a banner at synth).
        cfn_bus = self.event_bus.node.default_child
        assert isinstance(cfn_bus, events.CfnEventBus)
        cfn_bus.policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PinReportsFromTheOrganization",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "events:PutEvents",
                    "Resource": stack.format_arn(
                        service="events", resource="event-bus", resource_name=REGISTRY_NAME
                    ),
                    "Condition": {
                        "StringEquals": {
                            "aws:PrincipalOrgID": organization_id,
                            "events:source": PIN_EVENT_SOURCE,
                        }
                    },
                }
            ],
        }
        self.table = dynamodb.Table(
            self,
            "Holders",
            table_name=REGISTRY_NAME,
            partition_key=dynamodb.Attribute(name=BUILD_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=HOLDER_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=table_removal_policy,
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Records LatestImageBuild pins and keeps the protection tag",
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        builds = stack.format_arn(service="imagebuilder", resource="image", resource_name="*")
        ami_arns = [
            stack.format_arn(
                service="ec2", region=region, account="", resource="image", resource_name="*"
            )
            for region in regions or ("*",)
        ]
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                        "dynamodb:Scan",
                    ],
                    resources=[self.table.table_arn],
                ),
                iam.PolicyStatement(actions=[BUILD_READ_ACTION], resources=[builds]),
                iam.PolicyStatement(
                    actions=list(BUILD_TAG_ACTIONS),
                    resources=[builds],
                    conditions=ONLY_LIBRARY_TAG_KEYS,
                ),
                iam.PolicyStatement(
                    actions=list(AMI_TAG_ACTIONS),
                    resources=ami_arns,
                    conditions=ONLY_LIBRARY_TAG_KEYS,
                ),
                # DescribeImages (AMIs of a build that is gone) has no resource type
                iam.PolicyStatement(actions=[AMI_READ_ACTION], resources=["*"]),
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_group.log_group_arn],
                ),
            ],
        )
        for finding, reason in (
            (f"Resource::{builds}", "the registry keeps the tag on any build of this account"),
            ("Resource::*", "ec2:DescribeImages has no resource type: IAM accepts only '*'"),
            *(
                (f"Resource::{arn}", "the registry tags this account's AMIs of any build")
                for arn in ami_arns
            ),
        ):
            acknowledge_finding(self.policy, IAM5, finding, reason)
        self.function = lambda_.Function(
            self,
            "Function",
            description="Records which stacks pin which Image Builder build (LatestImageBuild)",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="pin_registry.handler.on_event",
            code=lambda_.Code.from_asset(staged_registry_asset()),
            timeout=REGISTRY_TIMEOUT,
            memory_size=256,
            role=role,
            log_group=log_group,
            environment={TABLE_ENV: self.table.table_name, LEASE_ENV: str(int(lease.to_seconds()))},
        )
        depend_on_policy_only(self.function, self.policy)
        self.reports_rule = events.Rule(
            self,
            "Reports",
            event_bus=self.event_bus,
            description="Pin reports of LatestImageBuild lookups, to the pin registry",
            event_pattern=events.EventPattern(
                source=[PIN_EVENT_SOURCE], detail_type=[PIN_EVENT_DETAIL_TYPE]
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=8)],
        )
        self.sweep_rule = events.Rule(
            self,
            "Sweep",
            description="Daily: the pin registry forgets holders whose lease ended",
            schedule=SWEEP_SCHEDULE,
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )

        # A lookup of this stack that reports here must wait for the whole registry (bus,
        # rule, permission, function, table): CloudFormation creates independent resources
        # in parallel, and deletes them so too.
        Aspects.of(stack).add(_LookupsWaitForRegistry(self))

    @staticmethod
    def lifecycle_exclusion_rules(
        resource_type: str = protection.AMI_IMAGE,
    ) -> imagebuilder.CfnLifecyclePolicy.ExclusionRulesProperty:
        """Exclusion rules for a ``CfnLifecyclePolicy`` that keep every build with a holder
        (the same rules as ``LatestImageBuild.lifecycle_exclusion_rules()``)."""
        return protection.lifecycle_exclusion_rules(resource_type)


@jsii.implements(IAspect)
class _LookupsWaitForRegistry:
    """Makes each protected lookup of the registry's stack that reports to it depend on it."""

    def __init__(self, factory: ImageFactory) -> None:
        self._factory = factory
        stack = Stack.of(factory)
        self._place = (stack.account, stack.region)

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, LookupProvider):
            return
        for lookup, account, region in node.protected_pins:
            if (account, region) == self._place:
                lookup.node.add_dependency(self._factory)


def _check_organization_id(organization_id: str) -> None:
    if Token.is_unresolved(organization_id):
        return
    if not isinstance(organization_id, str) or not ORGANIZATION_ID_PATTERN.match(organization_id):
        raise InvalidInputError(
            f"ImageFactory organization_id {show_value(organization_id)} is not an AWS "
            "Organizations id (o- and 10 to 32 lowercase letters or digits)"
        )


def _check_regions(regions: Sequence[str] | None) -> tuple[str, ...]:
    """The regions, checked and without repeats; () for None (any region)."""
    if regions is None:
        return ()
    if isinstance(regions, str) or not regions:
        raise InvalidInputError(
            f"ImageFactory distribution_regions {show_value(regions)} must be a non-empty "
            "list of regions, e.g. ['us-east-1', 'eu-west-1']"
        )
    for region in regions:
        if not Token.is_unresolved(region) and not REGION_PATTERN.match(str(region)):
            raise InvalidInputError(
                f"ImageFactory distribution_regions holds {show_value(region)}, "
                "which is not a region (e.g. eu-west-1)"
            )
    return tuple(dict.fromkeys(regions))
