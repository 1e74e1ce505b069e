"""The one place that reaches into aws-cdk-lib's private children, for cdk-nag and cfn-lint.

cdk-nag 3 runs as a CDK policy-validation plugin and only honours an
acknowledgment whose id matches a finding exactly, e.g.
``AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:...:image/*]``.
Tokens appear in those ids the way cdk-nag renders them: ``<AWS::Region>`` for a
Ref and ``<LogicalId.Attr>`` for a GetAtt, so values are rendered the same way here.

The Provider framework's function, its role and a role's default policy have no
public accessor in aws-cdk-lib; their child ids (``framework-onEvent``,
``ServiceRole``, ``DefaultPolicy``) are named only in this module, so a rename in
aws-cdk-lib breaks here and nowhere else (the construct tests catch it).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import custom_resources as cr
from constructs import IConstruct

IAM4 = "AwsSolutions::AwsSolutions-IAM4"
IAM5 = "AwsSolutions::AwsSolutions-IAM5"
_FRAMEWORK_FUNCTION_ID = "framework-onEvent"
_FUNCTION_ROLE_ID = "ServiceRole"
_DEFAULT_POLICY_ID = "DefaultPolicy"


def acknowledge_finding(scope: IConstruct, rule: str, finding: str, reason: str) -> None:
    """Acknowledge ``rule[finding]`` on ``scope``; ``finding`` may hold tokens."""
    rendered = render_for_nag(Stack.of(scope).resolve(finding))
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{rule}[{rendered}]", reason=reason))


def acknowledge_role_finding(role: iam.IRole, rule: str, finding: str, reason: str) -> None:
    """Acknowledge a finding on the statements of ``role``'s default policy, if it has one."""
    policy = role.node.try_find_child(_DEFAULT_POLICY_ID)
    if policy is not None:
        acknowledge_finding(policy, rule, finding, reason)


def make_provider_compliant(provider: cr.Provider, handler: lambda_.Function) -> None:
    """Everything the Provider framework and the handler need for zero cdk-nag/cfn-lint findings.

    * The framework's function role uses AWS's basic execution policy (IAM4) and may
      invoke any version of the handler (IAM5): acknowledged, with reasons.
    * aws-cdk-lib makes each function depend on its role and the role's policy; the
      role is already a dependency through Fn::GetAtt, which cfn-lint flags (W3005).
      Only the policy dependency is kept, so no function runs before it may act.
    """
    framework_function = provider.node.find_child(_FRAMEWORK_FUNCTION_ID)
    assert isinstance(framework_function, lambda_.Function)
    framework_role = framework_function.node.find_child(_FUNCTION_ROLE_ID)
    acknowledge_finding(
        framework_role,
        IAM4,
        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "aws-cdk-lib's Provider framework function logs through this AWS managed policy",
    )
    acknowledge_finding(
        framework_role,
        IAM5,
        f"Resource::{handler.function_arn}:*",
        "aws-cdk-lib's Provider framework may invoke any version of the handler function",
    )
    for function in (handler, framework_function):
        policy = function.role.node.try_find_child(_DEFAULT_POLICY_ID) if function.role else None
        if policy is not None:
            depend_on_policy_only(function, policy)


def render_for_nag(value: Any) -> str:
    """Render a resolved CloudFormation value as cdk-nag prints it in finding ids."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(render_for_nag(part) for part in parts)
    # anything else cdk-nag prints as compact JSON, keys in template order
    return json.dumps(value, separators=(",", ":"))


def depend_on_policy_only(function: lambda_.Function, policy: IConstruct) -> None:
    """Make ``function`` depend on ``policy`` alone: aws-cdk-lib also makes it depend on its
    role, which Fn::GetAtt already does (cfn-lint W3005); with this, no invocation runs
    before the function's grants exist."""
    cfn_function = function.node.default_child
    cfn_policy = policy.node.default_child
    assert isinstance(cfn_function, CfnResource) and isinstance(cfn_policy, CfnResource)
    cfn_function.add_override("DependsOn", [Stack.of(function).get_logical_id(cfn_policy)])
