"""Deployed stacks as CloudFormation reports them: every ``Custom::LatestImageBuild`` with its
template properties, its stack's parameter values and its physical id (the pinned build).

Calls: DescribeStacks (a named stack) or ListStacks (``--all``), GetTemplate, and
ListStackResources for stacks whose template holds a lookup. Only deployed resources
count: a lookup whose condition is false, or that was never created, is not listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from image_lookup.contract import RESOURCE_TYPE
from latest_image_build_cli.aws_session import AccountClients, client_failure
from latest_image_build_cli.cli_errors import CommandError
from latest_image_build_cli.deployed_properties import StackContext

#: Stacks with nothing deployed to check: deleted ones, and ones created for a change set
#: that was never executed (CloudFormation API reference, StackStatus).
SKIPPED_STATUSES = frozenset({"DELETE_COMPLETE", "REVIEW_IN_PROGRESS"})
#: The last segment CDK gives a custom resource's CloudFormation resource in ``aws:cdk:path``.
CDK_RESOURCE_SEGMENTS = ("/Default", "/Resource")


class LookupSite(NamedTuple):
    """One deployed lookup: where it is, its template properties and the build it pins."""

    stack: StackContext
    logical_id: str
    path: str
    """The construct path (``Prod/BaseImage``) from CDK's metadata, else the logical id."""
    physical_id: str
    resource_status: str
    properties: Mapping[str, Any]


class StackProblem(NamedTuple):
    """A stack whose lookups cannot be read."""

    stack_name: str
    problem: str


class StackReader:
    """Reads stacks of one region through one CloudFormation client."""

    def __init__(self, clients: AccountClients, region: str) -> None:
        # CloudFormation throttles with "Throttling", which the SDK's standard mode retries.
        self._client: Any = clients.client("cloudformation", region)
        self.region = region
        self.missing: list[str] = []
        """With ``missing_ok``: the named stacks not found here (or holding no lookup)."""

    def named(
        self, names: Iterable[str], *, missing_ok: bool = False
    ) -> Iterator[LookupSite | StackProblem]:
        """The lookups of each named stack; a stack that is missing or holds none is an
        error, or with ``missing_ok`` is noted in ``missing``."""
        for name in names:
            try:
                yield from self._named(name)
            except CommandError as error:
                if not missing_ok or not isinstance(error, _NotHereError):
                    raise
                self.missing.append(name)

    def _named(self, name: str) -> Iterator[LookupSite | StackProblem]:
        stack, status = self._describe(name)
        if status in SKIPPED_STATUSES:
            raise _NotHereError(f"stack {name!r} has nothing deployed ({status})")
        template = self._template(stack.stack_id, name)
        if isinstance(template, StackProblem):
            yield template
            return
        resources = _lookup_resources(template)
        if not resources:
            raise _NotHereError(f"stack {name!r} in region {self.region} holds no {RESOURCE_TYPE}")
        yield from self._sites(stack, template, resources)

    def every(self) -> Iterator[LookupSite | StackProblem]:
        """The lookups of every stack of the region (deleted stacks skipped)."""
        model = self._client.meta.service_model.shape_for("StackStatus")
        statuses = [status for status in model.enum if status not in SKIPPED_STATUSES]
        for summary in self._pages("list_stacks", "StackSummaries", StackStatusFilter=statuses):
            stack_id, name = summary["StackId"], summary["StackName"]
            template = self._template(stack_id, name)
            if isinstance(template, StackProblem):
                yield template
                continue
            resources = _lookup_resources(template)
            if resources:
                try:
                    stack, _ = self._describe(stack_id, name)
                except _NotHereError:
                    continue  # deleted since it was listed
                yield from self._sites(stack, template, resources)

    def _describe(self, name_or_id: str, name: str | None = None) -> tuple[StackContext, str]:
        try:
            answer = self._client.describe_stacks(StackName=name_or_id)
        except ClientError as error:
            if _not_found(error):
                raise _NotHereError(
                    f"stack {name or name_or_id!r} not found in region {self.region}"
                ) from None
            raise CommandError(
                client_failure(error, "cloudformation:DescribeStacks", f"stack {name_or_id!r}")
            ) from None
        (stack,) = answer["Stacks"][:1]
        parameters = {
            item["ParameterKey"]: item.get("ResolvedValue", item.get("ParameterValue", ""))
            for item in stack.get("Parameters") or []
        }
        context = StackContext(
            stack_id=stack["StackId"],
            stack_name=stack["StackName"],
            parameters=parameters,
            template_parameters={},
        )
        return context, str(stack.get("StackStatus", ""))

    def _template(self, stack_id: str, name: str) -> dict[str, Any] | StackProblem:
        try:
            body = self._client.get_template(StackName=stack_id)["TemplateBody"]
        except ClientError as error:
            if _not_found(error):
                return {}  # deleted since it was listed
            raise CommandError(
                client_failure(error, "cloudformation:GetTemplate", f"stack {name!r}")
            ) from None
        if isinstance(body, Mapping):  # botocore decodes a JSON template body
            return dict(body)
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            return decoded
        if RESOURCE_TYPE in str(body):
            return StackProblem(name, "its template is not JSON (YAML is not read): not checked")
        return {}

    def _sites(
        self, stack: StackContext, template: Mapping[str, Any], resources: Mapping[str, Any]
    ) -> Iterator[LookupSite]:
        stack = stack._replace(template_parameters=template.get("Parameters") or {})
        deployed = {
            item["LogicalResourceId"]: item
            for item in self._pages("list_stack_resources", "StackResourceSummaries",
                                    StackName=stack.stack_id)
            if item.get("ResourceType") == RESOURCE_TYPE
        }  # fmt: skip
        for logical_id in sorted(resources):
            item = deployed.get(logical_id)
            if item is None:
                continue  # not deployed (a false condition, or never created)
            resource = resources[logical_id]
            yield LookupSite(
                stack=stack,
                logical_id=logical_id,
                path=_construct_path(resource, logical_id),
                physical_id=str(item.get("PhysicalResourceId") or ""),
                resource_status=str(item.get("ResourceStatus") or ""),
                properties=resource.get("Properties") or {},
            )

    def _pages(self, method: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        action = "cloudformation:" + "".join(part.capitalize() for part in method.split("_"))
        try:
            for page in self._client.get_paginator(method).paginate(**params):
                yield from page.get(key) or []
        except ClientError as error:
            raise CommandError(client_failure(error, action)) from None


class _NotHereError(CommandError):
    """A named stack that is not deployed here, or holds no lookup."""


def _lookup_resources(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    resources = template.get("Resources") or {}
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if isinstance(resource, Mapping) and resource.get("Type") == RESOURCE_TYPE
    }


def _construct_path(resource: Mapping[str, Any], logical_id: str) -> str:
    metadata = resource.get("Metadata")
    path = metadata.get("aws:cdk:path") if isinstance(metadata, Mapping) else None
    if not isinstance(path, str) or not path:
        return logical_id
    for suffix in CDK_RESOURCE_SEGMENTS:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _not_found(error: ClientError) -> bool:
    # DescribeStacks answers a missing stack with ValidationError "Stack with id X does not
    # exist" (CloudFormation API reference, DescribeStacks: Errors).
    details = error.response.get("Error", {})
    return details.get("Code") == "ValidationError" and "does not exist" in str(
        details.get("Message", "")
    )
