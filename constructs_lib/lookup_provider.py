"""The per-stack singleton behind every ``LatestImageBuild``: handler, provider, IAM, logs."""

from __future__ import annotations

import weakref

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_lib._acknowledgments import acknowledge_finding
from constructs_lib.handler_asset import staged_handler_asset

PROVIDER_ID = "LatestImageBuildProvider"
HANDLER_TIMEOUT = Duration.minutes(2)
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
_PROVIDERS: weakref.WeakKeyDictionary[Stack, LookupProvider] = weakref.WeakKeyDictionary()


class LookupProvider(Construct):
    """One handler function and one ``custom_resources.Provider`` per stack.

    Each lookup adds only the IAM statements its owner and region need.
    """

    def __init__(self, scope: Construct, id: str) -> None:
        """Create the handler, its role and log groups, and the provider framework."""
        super().__init__(scope, id)
        self._stack = Stack.of(self)
        # read once: each read of a jsii property is a round trip
        self._stack_account = self._stack.account
        self._stack_region = self._stack.region
        self._granted: set[tuple[str, str, str]] = set()

        handler_logs = logs.LogGroup(
            self, "HandlerLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Reads EC2 Image Builder images for LatestImageBuild lookups",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[handler_logs.log_group_arn],
            )
        )
        # ListImages has no resource type: IAM only accepts "*" for it.
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["imagebuilder:ListImages"], resources=["*"])
        )
        self.handler = lambda_.Function(
            self,
            "Handler",
            description="Resolves LatestImageBuild lookups to one Image Builder build",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="image_lookup.handler.on_event",
            code=lambda_.Code.from_asset(staged_handler_asset()),
            timeout=HANDLER_TIMEOUT,
            memory_size=256,
            role=self.role,
            log_group=handler_logs,
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

        #: The provider framework's function ARN, for ``CustomResource(service_token=...)``.
        self.service_token: str = self.provider.service_token
        framework_function = self.provider.node.find_child("framework-onEvent")
        assert isinstance(framework_function, lambda_.Function)
        for function in (self.handler, framework_function):
            _depend_on_policy_only(function)
        acknowledge_finding(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions::AwsSolutions-IAM5",
            "Resource::*",
            "imagebuilder:ListImages has no resource type, so IAM accepts only '*' for it",
        )
        framework_role = framework_function.node.find_child("ServiceRole")
        acknowledge_finding(
            framework_role,
            "AwsSolutions::AwsSolutions-IAM4",
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "aws-cdk-lib's Provider framework function logs through this AWS managed policy",
        )
        acknowledge_finding(
            framework_role,
            "AwsSolutions::AwsSolutions-IAM5",
            f"Resource::{self.handler.function_arn}:*",
            "aws-cdk-lib's Provider framework may invoke any version of the handler function",
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

    def allow_lookup(self, *, owner: str, region: str | None, list_builds: bool) -> None:
        """Grant the build-level reads a lookup of ``owner``'s images needs.

        ``owner`` is an API owner string or a token; ``region`` None means the stack's.
        """
        if owner == "Self":
            account = self._stack_account
        elif owner == "Amazon":
            account = "aws"
        else:  # shared, third-party and Marketplace images, or an owner known only at deploy
            account = "*"
        region = region or self._stack_region
        actions = ["imagebuilder:GetImage"]
        if list_builds:
            actions.append("imagebuilder:ListImageBuildVersions")
        for action in actions:
            if (action, account, region) not in self._granted:
                self._granted.add((action, account, region))
                self._grant_on_images(action, account, region)

    def _grant_on_images(self, action: str, account: str, region: str) -> None:
        image_arns = self._stack.format_arn(
            service="imagebuilder",
            region=region,
            account=account,
            resource="image",
            resource_name="*",
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=[action], resources=[image_arns]))
        acknowledge_finding(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions::AwsSolutions-IAM5",
            f"Resource::{image_arns}",
            f"{action} is scoped to images of one owner account and region; the image "
            "name is only known at deploy time",
        )


def _depend_on_policy_only(function: lambda_.Function) -> None:
    """Drop a function's DependsOn on its role, keeping the one on the role's policy.

    aws-cdk-lib makes a function depend on its role and the role's policy; the role
    is already a dependency through Fn::GetAtt, which cfn-lint flags (W3005). The
    policy dependency stays so the function never runs before it may read images.
    """
    policy = function.role.node.find_child("DefaultPolicy") if function.role else None
    if policy is None:
        return
    cfn_function = function.node.default_child
    cfn_policy = policy.node.default_child
    assert isinstance(cfn_function, CfnResource) and isinstance(cfn_policy, CfnResource)
    cfn_function.add_override("DependsOn", [Stack.of(function).get_logical_id(cfn_policy)])
