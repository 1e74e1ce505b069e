"""The per-stack singleton behind every ``LatestImageBuild``: handler, provider, IAM, logs."""

from __future__ import annotations

import weakref

import jsii
from aws_cdk import (
    Aws,
    CfnResource,
    Duration,
    FeatureFlags,
    Fn,
    IStableAnyProducer,
    IStableListProducer,
    Lazy,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_lib._compliance import IAM5, acknowledge_role_finding, make_provider_compliant
from constructs_lib._image_reads import ImageReadGrants
from constructs_lib.handler_asset import ASSET_STAGING_DISABLED_CONTEXT, staged_lookup_asset
from image_lookup.contract import HANDLER_TIMEOUT_SECONDS, LIST_IMAGES, ROLLBACK_READS
from image_lookup.pacing import LOOKUPS_ENV, SPREAD_MIN_LOOKUPS
from image_lookup.pins import REGISTRY_NAME, RENEWAL_MARK, RENEWAL_VALUE
from image_lookup.protection import AMI_READ_ACTION

PROVIDER_ID = "LatestImageBuildProvider"
HANDLER_TIMEOUT = Duration.seconds(HANDLER_TIMEOUT_SECONDS)
#: How often a stack renews its protected pins (well inside ``ImageFactory``'s lease).
RENEWAL_INTERVAL = Duration.days(1)
LIST_STACK_RESOURCES = "cloudformation:ListStackResources"
#: Protected lookups named by one renewal rule: a target's Input holds at most 8,192
#: characters (EventBridge API reference, Target), and a logical id at most 255.
RENEWAL_LOOKUPS_PER_RULE = 25
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
LOG_RETENTION_DAYS = 30  # LOG_RETENTION in days, for a CfnLogGroup
#: aws-cdk-lib's feature flag under which every Function makes its own
#: ``/aws/lambda/<name>`` log group (cx_api.USE_CDK_MANAGED_LAMBDA_LOGGROUP).
CDK_MANAGED_LAMBDA_LOG_GROUP = "@aws-cdk/aws-lambda:useCdkManagedLogGroup"
_PROVIDERS: weakref.WeakKeyDictionary[Stack, LookupProvider] = weakref.WeakKeyDictionary()


class LookupProvider(Construct):
    """One handler function and one ``custom_resources.Provider`` per stack.

    Each lookup adds only the IAM statements its owner and region need.
    """

    def __init__(self, scope: Construct, id: str) -> None:
        """Create the handler, its role and log group, and the provider framework."""
        super().__init__(scope, id)
        self._stack = Stack.of(self)
        # read once: each read of a jsii property is a round trip
        self._stack_account = self._stack.account
        self._stack_region = self._stack.region
        self._granted: set[tuple[str, str, str]] = set()
        #: Each protected lookup and the (account, region) of the registry it reports to.
        self.protected_pins: list[tuple[CfnResource, str, str]] = []
        #: Lookups served by the handler (one per ``allow_lookup``).
        self.lookups = 0

        self.role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Reads EC2 Image Builder images for LatestImageBuild lookups",
        )
        self._image_reads = ImageReadGrants(
            self._stack,
            self.role.add_to_policy,
            lambda finding, reason: acknowledge_role_finding(self.role, IAM5, finding, reason),
        )
        # Rollbacks: the stack's status and events tell the pin the stack had; this
        # stack's own ARN (AWS::StackId) is the only resource.
        self.role.add_to_policy(
            iam.PolicyStatement(actions=list(ROLLBACK_READS), resources=[Aws.STACK_ID])
        )
        # ... and the previous build's AMI by its Ec2ImageBuilderArn tag, when the build
        # itself is gone. DescribeImages has no resource type: IAM accepts only "*".
        self.role.add_to_policy(iam.PolicyStatement(actions=[AMI_READ_ACTION], resources=["*"]))
        # ListImages has no resource type: IAM only accepts "*" for it.
        self.role.add_to_policy(iam.PolicyStatement(actions=[LIST_IMAGES], resources=["*"]))
        acknowledge_role_finding(
            self.role,
            IAM5,
            "Resource::*",
            "imagebuilder:ListImages and ec2:DescribeImages have no resource type, so IAM "
            "accepts only '*' for them",
        )
        self.handler = lambda_.Function(
            self,
            "Handler",
            description="Resolves LatestImageBuild lookups to one Image Builder build",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="image_lookup.handler.on_event",
            code=lambda_.Code.from_asset(
                staged_lookup_asset(
                    keep=bool(self.node.try_get_context(ASSET_STAGING_DISABLED_CONTEXT))
                )
            ),
            timeout=HANDLER_TIMEOUT,
            memory_size=256,
            role=self.role,
        )
        # The stack's number of lookups, known once every construct exists: the handler
        # spreads its calls by it (image_lookup.pacing); absent for a small stack.
        handler_function = self.handler.node.default_child
        assert isinstance(handler_function, lambda_.CfnFunction)
        handler_function.add_property_override(
            f"Environment.Variables.{LOOKUPS_ENV}", Lazy.any(_LookupCount(self))
        )
        self.handler_logs = self._handler_log_group()
        # A policy of its own: in the role's default policy, which the function depends on,
        # it would make the function depend on the group, whose name needs the function.
        handler_logging = iam.Policy(
            self,
            "HandlerLogging",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.handler_logs.log_group_arn],
                )
            ],
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.handler,
            log_group=logs.LogGroup(
                self,
                "ProviderLogs",
                retention=LOG_RETENTION,
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )
        # The framework is the handler's only caller: with this, the handler's log
        # group and its right to write there exist before its first invocation.
        self.provider.node.add_dependency(self.handler_logs, handler_logging)
        make_provider_compliant(self.provider, self.handler)
        #: The provider framework's function ARN, for ``CustomResource(service_token=...)``.
        self.service_token: str = self.provider.service_token

    def _handler_log_group(self) -> logs.ILogGroup:
        """The handler's log group, named as Lambda names it: ``/aws/lambda/<function name>``.

        A failed deploy's reason ends in the Provider framework's pointer
        ``Logs: /aws/lambda/<handler name>``; this makes that pointer lead to the
        handler's logs. The name refers to the function, so the function cannot
        name the group in its own LoggingConfig (a cycle); it does not need to, as
        this is Lambda's default group. Under aws-cdk-lib's
        ``useCdkManagedLogGroup`` flag the Function already made that group: it is
        reused and given the same retention and removal policy.
        """
        if FeatureFlags.of(self).is_enabled(CDK_MANAGED_LAMBDA_LOG_GROUP):
            log_group = self.handler.log_group
            cfn_log_group = log_group.node.default_child
            assert isinstance(cfn_log_group, logs.CfnLogGroup)
            cfn_log_group.retention_in_days = LOG_RETENTION_DAYS
            log_group.apply_removal_policy(RemovalPolicy.DESTROY)
            return log_group
        return logs.LogGroup(
            self,
            "HandlerLogs",
            log_group_name=Fn.join("", ["/aws/lambda/", self.handler.function_name]),
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )

    @classmethod
    def of(cls, stack: Stack) -> LookupProvider:
        """The stack's provider, created on first use."""
        # jsii hands back the same Python object for a stack, so a weak map spares
        # each further lookup two calls into the jsii runtime.
        provider = _PROVIDERS.get(stack)
        if provider is None:
            existing = stack.node.try_find_child(PROVIDER_ID)
            provider = existing if isinstance(existing, LookupProvider) else cls(stack, PROVIDER_ID)
            _PROVIDERS[stack] = provider
        return provider

    def allow_lookup(
        self,
        *,
        owner: str | None,
        region: str | None,
        include_deprecated: bool,
        gated: bool,
        image_account: str | None = None,
    ) -> None:
        """Grant the image reads a lookup needs, by the contract's rule.

        ``owner`` is an API owner string, or None when it is a token (known only at
        deploy); ``region`` None means the stack's; ``image_account`` the account that
        owns the image, when the lookup names one.
        """
        self.lookups += 1
        self._image_reads.allow_lookup(
            owner=owner,
            region=region,
            include_deprecated=include_deprecated,
            gated=gated,
            image_account=image_account,
        )

    def allow_protection(
        self, lookup: CfnResource, *, region: str | None, image_account: str | None
    ) -> None:
        """Let ``lookup`` (its custom resource) report its pin to the registry of the
        image's owner: PutEvents on ``latest-image-build-pins`` in ``image_account``
        (None: the stack's) and ``region`` (None: the stack's), and renew it daily.

        The handler tags nothing: the registry (``ImageFactory``) does, in its account.
        """
        registry_account = image_account or self._stack_account
        registry_region = region or self._stack_region
        position = len(self.protected_pins)
        self.protected_pins.append((lookup, registry_account, registry_region))
        bus_arn = self._stack.format_arn(
            service="events",
            region=registry_region,
            account=registry_account,
            resource="event-bus",
            resource_name=REGISTRY_NAME,
        )
        if ("events:PutEvents", bus_arn, "") not in self._granted:
            self._granted.add(("events:PutEvents", bus_arn, ""))
            self.role.add_to_policy(
                iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus_arn])
            )
        if position == 0:
            # the daily renewal reads which build each protected lookup pins now
            self.role.add_to_policy(
                iam.PolicyStatement(actions=[LIST_STACK_RESOURCES], resources=[Aws.STACK_ID])
            )
        if position % RENEWAL_LOOKUPS_PER_RULE == 0:
            self._add_renewal_rule(position // RENEWAL_LOOKUPS_PER_RULE)

    def _add_renewal_rule(self, index: int) -> None:
        """The daily rule that renews protected lookups ``index * RENEWAL_LOOKUPS_PER_RULE``
        onwards (at most ``RENEWAL_LOOKUPS_PER_RULE`` of them)."""
        start = index * RENEWAL_LOOKUPS_PER_RULE
        events.Rule(
            self,
            f"PinRenewal{index + 1}" if index else "PinRenewal",
            description="Daily: renews the leases of this stack's protected pins",
            schedule=events.Schedule.rate(RENEWAL_INTERVAL),
            targets=[
                targets.LambdaFunction(
                    self.handler,
                    event=events.RuleTargetInput.from_object(
                        {
                            RENEWAL_MARK: RENEWAL_VALUE,
                            "stackId": Aws.STACK_ID,
                            "lookups": Lazy.list(
                                _ProtectedLookups(
                                    self.protected_pins, start, start + RENEWAL_LOOKUPS_PER_RULE
                                )
                            ),
                        }
                    ),
                    retry_attempts=4,
                )
            ],
        )


@jsii.implements(IStableListProducer)
class _ProtectedLookups:
    """The logical ids of the stack's protected lookups, known once every construct exists."""

    def __init__(self, pins: list[tuple[CfnResource, str, str]], start: int, stop: int) -> None:
        self._pins = pins
        self._start = start
        self._stop = stop

    def produce(self) -> list[str]:
        return [lookup.logical_id for lookup, _, _ in self._pins[self._start : self._stop]]


@jsii.implements(IStableAnyProducer)
class _LookupCount:
    """The provider's number of lookups, or nothing (no variable) for a small stack."""

    def __init__(self, provider: LookupProvider) -> None:
        self._provider = provider

    def produce(self) -> str | None:
        lookups = self._provider.lookups
        return str(lookups) if lookups > SPREAD_MIN_LOOKUPS else None
