"""``CheckReadRole``: the read-only role ``latest-image-build check --accounts`` assumes.

Deploy it in every workload account (a stack per account, or a StackSet of its template):
it grants exactly the reads ``check`` makes (``CHECK_READ_ACTIONS``) and trusts the
account (or principal) the check runs from. Its name is fixed (``CHECK_ROLE_NAME``), the
command's default ``--role-name``.
"""

from __future__ import annotations

import re

from aws_cdk import Token
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib._compliance import IAM5, acknowledge_role_finding
from latest_image_build_cli.check_access import CHECK_READ_ACTIONS, CHECK_ROLE_NAME

__all__ = ["CHECK_ROLE_NAME", "CheckReadRole"]

_ACCOUNT_ID = re.compile(r"\d{12}")


class CheckReadRole(Construct):
    """A role that lets ``check`` read this account's stacks, images and AMIs, and nothing else.

    ``trusted``: the account id (any principal of it that its own IAM allows
    ``sts:AssumeRole``) or the principal (e.g. a CI role) that runs ``check``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        trusted: iam.IPrincipal | str,
        role_name: str = CHECK_ROLE_NAME,
    ) -> None:
        super().__init__(scope, construct_id)
        if isinstance(trusted, str):
            if not Token.is_unresolved(trusted) and not _ACCOUNT_ID.fullmatch(trusted):
                raise ValueError(
                    f"CheckReadRole trusted: invalid account id {trusted!r}: expected 12 digits"
                )
            principal: iam.IPrincipal = iam.AccountPrincipal(trusted)
        else:
            principal = trusted
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=principal,
            description="latest-image-build check: read stacks, Image Builder images and AMIs",
        )
        """The role (``role.role_arn`` for the caller's ``sts:AssumeRole`` grant)."""
        for sid, actions in CHECK_READ_ACTIONS.items():
            self.role.add_to_policy(
                iam.PolicyStatement(sid=sid, actions=list(actions), resources=["*"])
            )
        acknowledge_role_finding(
            self.role,
            IAM5,
            "Resource::*",
            "List and describe calls of stacks, images and AMIs across the account: "
            "ListStacks, ListImages and DescribeImages take no resource ARN",
        )
