"""The "Many accounts" example app (README): both sides synthesize, lint clean, and are wired
to each other: every workload reports its pins to the factory's registry in the image's
region, and the factory forwards its build events to every workload account and region."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.cx_api import CloudAssembly
from cfnlint.api import ManualArgs, lint_file

from example.many_accounts_app import (
    FACTORY_ACCOUNT,
    FACTORY_REGION,
    WORKLOAD_ACCOUNTS,
    WORKLOAD_REGIONS,
    build_app,
)

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    # cdk-nag (AwsSolutions) runs as the app's validation plugin: synth fails on any finding
    return build_app(outdir=str(tmp_path_factory.mktemp("many"))).synth()


def text(value: Any) -> str:
    """A resolved ARN as text: Refs as <Name>, GetAtts as <Name.Attribute>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    separator, parts = value["Fn::Join"]
    return str(separator).join(text(part) for part in parts)


def statements(template: dict[str, Any], action: str) -> list[str]:
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            if action in actions:
                resources = statement["Resource"]
                found += [
                    text(r) for r in (resources if isinstance(resources, list) else [resources])
                ]
    return found


def test_every_stack_is_clean_for_cfn_lint(assembly: CloudAssembly) -> None:
    for stack in assembly.stacks:
        regions = [stack.environment.region]
        matches = lint_file(Path(stack.template_full_path), config=ManualArgs(regions=regions))
        assert [str(m) for m in matches] == [], stack.stack_name


def test_each_workload_reports_to_the_factorys_registry_in_the_images_region(
    assembly: CloudAssembly,
) -> None:
    bus = (
        f"arn:<AWS::Partition>:events:{FACTORY_REGION}:{FACTORY_ACCOUNT}"
        ":event-bus/latest-image-build-pins"
    )
    workloads = [s for s in assembly.stacks if s.stack_name.startswith("Workload-")]
    assert len(workloads) == len(WORKLOAD_ACCOUNTS) * len(WORKLOAD_REGIONS)
    for stack in workloads:
        assert statements(stack.template, "events:PutEvents").count(bus) == 1, stack.stack_name


def test_the_factory_forwards_build_events_to_every_workload_bus(assembly: CloudAssembly) -> None:
    factory = assembly.get_stack_by_name("ImageFactory").template
    targets = {
        text(target["Arn"])
        for resource in factory["Resources"].values()
        if resource["Type"] == "AWS::Events::Rule"
        for target in resource["Properties"].get("Targets", [])
    }
    for account in WORKLOAD_ACCOUNTS:
        for region in WORKLOAD_REGIONS:
            assert f"arn:<AWS::Partition>:events:{region}:{account}:event-bus/default" in targets


def test_each_workload_hears_only_the_factorys_builds(assembly: CloudAssembly) -> None:
    for stack in assembly.stacks:
        if not stack.stack_name.startswith("Workload-"):
            continue
        patterns = [
            r["Properties"]["EventPattern"]
            for r in stack.template["Resources"].values()
            if r["Type"] == "AWS::Events::Rule"
            and "aws.imagebuilder" in json.dumps(r["Properties"].get("EventPattern"))
        ]
        assert patterns, stack.stack_name
        assert all(p["account"] == [FACTORY_ACCOUNT] for p in patterns)
