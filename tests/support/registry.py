"""The pin registry's table as ``ImageFactory`` synthesizes it, made in moto's DynamoDB."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import boto3

from image_lookup.pins import PIN_EVENT_SOURCE, REGISTRY_NAME
from local_endpoints.imagebuilder import ACCOUNT

REGION = "us-east-1"
#: A Lambda target gets the whole event, ``account`` included (EventBridge User Guide,
#: "Amazon EventBridge event structure"). moto's SQS delivery leaves ``account`` out
#: unless an input transformer names it, so this transformer rebuilds the whole envelope
#: for tests that capture pin reports in a queue.
WHOLE_EVENT = {
    "InputPathsMap": {
        key: f"$.{key}"
        for key in ("id", "version", "account", "time", "region", "source", "detail-type")
    }
    | {"detail": "$.detail", "resources": "$.resources"},
    "InputTemplate": (
        '{"id": "<id>", "version": "<version>", "account": "<account>", "time": "<time>", '
        '"region": "<region>", "source": "<source>", "detail-type": "<detail-type>", '
        '"resources": <resources>, "detail": <detail>}'
    ),
}


#: The example stack's template, which holds an ``ImageFactory`` (kept current by
#: tests/construct_tests/test_example_app.py's snapshot test).
SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "GoldenImagePipeline.template.json"


@functools.lru_cache(maxsize=1)
def factory_template() -> dict[str, Any]:
    """The template of a stack holding one ``ImageFactory`` (synthesized once).

    In the venv of Lambda's older boto3, which has no CDK, the example stack's committed
    snapshot stands in: the same construct, synthesized by the main venv.
    """
    try:
        from aws_cdk import App, Environment, Stack
    except ImportError:
        return dict(json.loads(SNAPSHOT.read_text()))

    from constructs_lib.image_factory import ImageFactory

    app = App()
    stack = Stack(app, "Factory", env=Environment(account=ACCOUNT, region=REGION))
    ImageFactory(stack, "Factory", organization_id="o-a1b2c3d4e5")
    return dict(app.synth().get_stack_by_name("Factory").template)


def resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The Properties of every resource of type ``kind``."""
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def reports_rule(template: dict[str, Any]) -> dict[str, Any]:
    """The registry's rule: the one whose pattern matches pin reports."""
    (rule,) = [
        r
        for r in resources(template, "AWS::Events::Rule")
        if PIN_EVENT_SOURCE in r.get("EventPattern", {}).get("source", [])
    ]
    return rule


def create_registry_table(region: str = REGION) -> str:
    """CreateTable with the synthesized table's keys and billing mode; returns its name."""
    (table,) = resources(factory_template(), "AWS::DynamoDB::Table")
    assert table["TableName"] == REGISTRY_NAME
    boto3.client("dynamodb", region_name=region).create_table(
        TableName=table["TableName"],
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode=table["BillingMode"],
    )
    return str(table["TableName"])
