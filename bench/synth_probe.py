"""Synthesize one stack of N lookups made one way; print time and template size as JSON.

``python -m bench.synth_probe LatestImageBuild|AwsCustomResource N``
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import custom_resources as cr
from aws_cdk import cx_api

from constructs_lib import ImageOwner, LatestImageBuild


def add_latest_image_build(stack: cdk.Stack, index: int) -> str:
    lookup = LatestImageBuild(
        stack, f"Lookup{index}", image_name=f"image-{index}", owner=ImageOwner.AMAZON
    )
    return lookup.image_build_version_arn


def add_aws_custom_resource(stack: cdk.Stack, index: int) -> str:
    """The common way: GetImage on a wildcard version ARN through AwsCustomResource."""
    arn = f"arn:aws:imagebuilder:{stack.region}:aws:image/image-{index}/x.x.x"
    call = cr.AwsSdkCall(
        service="imagebuilder",
        action="GetImage",
        parameters={"imageBuildVersionArn": arn},
        physical_resource_id=cr.PhysicalResourceId.from_response("image.arn"),
    )
    lookup = cr.AwsCustomResource(
        stack,
        f"Lookup{index}",
        on_create=call,
        on_update=call,
        policy=cr.AwsCustomResourcePolicy.from_sdk_calls(
            resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE
        ),
        install_latest_aws_sdk=False,
    )
    return lookup.get_response_field("image.arn")


def synthesize(add: Callable[[cdk.Stack, int], str], count: int) -> cx_api.CloudAssembly:
    """An app with one stack of ``count`` lookups, synthesized to a fresh folder."""
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="bench-synth-"))
    stack = cdk.Stack(app, "Bench")
    for index in range(count):
        cdk.CfnOutput(stack, f"Arn{index}", value=add(stack, index))
    return app.synth()


def main() -> None:
    """Build, synthesize and measure."""
    way, count = sys.argv[1], int(sys.argv[2])
    add = {
        "LatestImageBuild": add_latest_image_build,
        "AwsCustomResource": add_aws_custom_resource,
    }[way]
    synthesize(add, 1)  # warm-up: loads the jsii modules both ways need
    started = time.perf_counter()
    assembly = synthesize(add, count)
    seconds = time.perf_counter() - started
    template_path = Path(assembly.get_stack_by_name("Bench").template_full_path)
    template = json.loads(template_path.read_text())
    resources = template["Resources"].values()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "template_bytes": template_path.stat().st_size,
                "functions": sum(r["Type"] == "AWS::Lambda::Function" for r in resources),
                "resources": len(template["Resources"]),
            }
        )
    )


if __name__ == "__main__":
    main()
