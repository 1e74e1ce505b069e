"""The Image Builder reads a lookup needs, granted once per action, owner account and region.

Shared by the lookup's handler (``lookup_provider``) and the ``on_newer_build()``
evaluator (``newer_build``): both resolve lookups, so both follow the contract's
rule (``image_lookup.contract.service_actions``).
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Stack
from aws_cdk import aws_iam as iam

from image_lookup.contract import LIST_IMAGES, owner_account, service_actions


class ImageReadGrants:
    """Adds each ``(action, account, region)`` grant on ``image/*`` once, acknowledged."""

    def __init__(
        self,
        stack: Stack,
        add_statement: Callable[[iam.PolicyStatement], object],
        acknowledge: Callable[[str, str], None],
    ) -> None:
        """``add_statement`` adds to the policy; ``acknowledge(finding, reason)`` notes IAM5."""
        self._stack = stack
        self._add_statement = add_statement
        self._acknowledge = acknowledge
        # read once: each read of a jsii property is a round trip
        self._stack_account = stack.account
        self._stack_region = stack.region
        self._granted: set[tuple[str, str, str]] = set()

    def allow_lookup(
        self,
        *,
        owner: str | None,
        region: str | None,
        include_deprecated: bool,
        gated: bool,
        image_account: str | None = None,
    ) -> None:
        """Grant what one lookup reads (``owner`` None: a token, known only at deploy;
        ``region`` None: the stack's). ListImages, which has no resource type, is the
        caller's to grant on ``*``."""
        account = (
            image_account or (owner_account(owner, self._stack_account) if owner else None) or "*"
        )
        for action in service_actions(owner, include_deprecated=include_deprecated, gated=gated):
            if action != LIST_IMAGES:
                self.grant(action, account, region)

    def grant(self, action: str, account: str, region: str | None) -> None:
        """``action`` on ``arn:...:imagebuilder:<region>:<account>:image/*``, once."""
        region = region or self._stack_region
        if (action, account, region) in self._granted:
            return
        self._granted.add((action, account, region))
        images = self.images_arn(account, region)
        self._add_statement(iam.PolicyStatement(actions=[action], resources=[images]))
        self._acknowledge(
            f"Resource::{images}",
            f"{action} is scoped to images of one owner account and region; the image "
            "name is only known at deploy time",
        )

    def images_arn(self, account: str, region: str | None) -> str:
        """``arn:<partition>:imagebuilder:<region>:<account>:image/*`` (None: the stack's)."""
        return self._stack.format_arn(
            service="imagebuilder",
            region=region or self._stack_region,
            account=account,
            resource="image",
            resource_name="*",
        )
