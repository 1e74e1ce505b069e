"""Acknowledge validation findings (cdk-nag 3) that a lookup needs by design.

cdk-nag 3 runs as a CDK policy-validation plugin and only honours an
acknowledgment whose id matches a finding exactly, e.g.
``AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:...:image/*]``.
Tokens appear in those ids the way cdk-nag renders them: ``<AWS::Region>`` for a
Ref and ``<LogicalId.Attr>`` for a GetAtt, so values are rendered the same way here.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge_finding(scope: IConstruct, rule: str, finding: str, reason: str) -> None:
    """Acknowledge ``rule[finding]`` on ``scope``; ``finding`` may hold tokens."""
    rendered = render_for_nag(Stack.of(scope).resolve(finding))
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{rule}[{rendered}]", reason=reason))


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
    return json.dumps(value, sort_keys=True)
