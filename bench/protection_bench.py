"""One build pinned by 500 stacks through the pin registry: calls per report, tags per resource.

``python -m bench.protection_bench [STACKS]`` prints one JSON object. The registry
(``pin_registry.registry.Registry``, as the ``ImageFactory``'s function runs it) keeps its
holders in moto's DynamoDB (server mode; the table made from the synthesized
``ImageFactory`` template, as tests/support/registry.py makes it) and the marker on a build
of the local Image Builder and on that build's two AMIs in moto's EC2 (us-east-1,
us-west-2). STACKS stacks acquire the build, one report each, then release it in turn.

Calls are the registry's own count (``Registry.calls``: DynamoDB, Image Builder and EC2
calls, retries included) before and after each report, and by operation from the SDK's
``before-send`` events. One ``Registry`` serves every report here; the function makes one
per invocation, which makes the same calls (its gateways are made on first use and call
nothing themselves).

0.3.0's design is measured on another AMI of the same build in moto's EC2, which enforces
EC2's 50 tags per resource (EC2 User Guide, "Tag restrictions"): one
``latest-image-build:pinned-by:<hash>`` tag per stack plus the marker, as 0.3.0 wrote them
(``image_lookup.protection.legacy_tag_key``), until CreateTags fails. An Image Builder image
holds at most 50 tags too (botocore's ``imagebuilder`` model, TagMap).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from collections import Counter
from typing import Any

import boto3
from botocore.exceptions import ClientError

from image_lookup.deadline import Deadline
from image_lookup.pins import REGISTRY_NAME, Holder
from image_lookup.protection import PROTECTED_TAG_KEY, PROTECTED_TAG_VALUE, legacy_tag_key
from local_endpoints.imagebuilder import ACCOUNT, REGION, FakeImageBuilder
from local_endpoints.moto_services import MotoServices

STACKS = 500
AMI_REGIONS = ("us-east-1", "us-west-2")
STACK_UUID = "1b2c3d40-0000-11ef-8000-0a1b2c3d4e5f"
LEASE_SECONDS = 3 * 24 * 3600
#: After these many stacks the build's and AMIs' tags are read (and at the end).
TAG_SAMPLES = (1, 48, 49, 50, 100, 250)
TAG_LIMIT = 50


def holder(number: int) -> Holder:
    """Stack ``number``'s lookup of the golden build."""
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/Service{number}/{STACK_UUID}"
    return Holder(stack, "BaseImage")


def register_ami(ec2: Any, build_arn: str, name: str) -> str:
    """An AMI as Image Builder leaves it: tagged ``Ec2ImageBuilderArn`` = the build's ARN."""
    image_id = str(
        ec2.register_image(
            Name=name,
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
    )
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "Ec2ImageBuilderArn", "Value": build_arn}])
    return image_id


class Tags:
    """Reads the tags of the build and of each of its AMIs."""

    def __init__(self, build_arn: str, amis: dict[str, str]) -> None:
        self.build_arn = build_arn
        self.amis = amis
        self._imagebuilder = boto3.client("imagebuilder", region_name=REGION)
        self._ec2 = {region: boto3.client("ec2", region_name=region) for region in amis}

    def per_resource(self) -> dict[str, dict[str, int]]:
        """``{resource: {"all": n, "ours": n}}`` for the build and each AMI."""
        found = {"build": self._count(self._build_tags())}
        for region, image_id in self.amis.items():
            (image,) = self._ec2[region].describe_images(ImageIds=[image_id])["Images"]
            tags = {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
            found[f"AMI {region}"] = self._count(tags)
        return found

    def _build_tags(self) -> dict[str, str]:
        answer = self._imagebuilder.get_image(imageBuildVersionArn=self.build_arn)
        return dict(answer["image"]["tags"])

    @staticmethod
    def _count(tags: dict[str, str]) -> dict[str, int]:
        ours = [key for key in tags if key.startswith("latest-image-build:")]
        return {"all": len(tags), "ours": len(ours)}


class OperationCounter:
    """Every request the SDK sends in this process, by ``service:Operation``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, event_name: str, **_kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.counts[f"{service}:{operation}"] += 1

    def since(self, before: Counter[str]) -> dict[str, int]:
        return dict(sorted((self.counts - before).items()))


def legacy_design(ec2: Any, build_arn: str, stacks: int) -> dict[str, Any]:
    """0.3.0's tags on a fresh AMI of the build: the first stack whose CreateTags fails."""
    image_id = register_ami(ec2, build_arn, "golden-0.3.0-design")
    for number in range(1, stacks + 1):
        tags = {legacy_tag_key(holder(number)): "BaseImage", PROTECTED_TAG_KEY: PROTECTED_TAG_VALUE}
        try:
            ec2.create_tags(
                Resources=[image_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )
        except ClientError as error:
            return {"failing_stack": number, "error": error.response["Error"]["Code"]}
    return {"failing_stack": None, "error": None}


def run(stacks: int) -> dict[str, Any]:
    """Acquire and release one build by ``stacks`` stacks; the figures."""
    from pin_registry.marker import BuildMarker
    from pin_registry.registry import Registry
    from pin_registry.store_api import PinStore
    from tests.support import registry as registry_support

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    fake = FakeImageBuilder().start()
    moto = MotoServices().start()
    os.environ.update(fake.client_environment())
    for service in ("EC2", "DYNAMODB"):
        os.environ[f"AWS_ENDPOINT_URL_{service}"] = moto.url
    try:
        registry_support.create_registry_table(REGION)
        image = fake.add("golden", "1.4.0")
        build_arn = image.build_arn(image.builds[0])
        ec2 = {region: boto3.client("ec2", region_name=region) for region in AMI_REGIONS}
        amis = {
            region: register_ami(ec2[region], build_arn, f"golden-{region}")
            for region in AMI_REGIONS
        }
        image.builds[0].amis = [
            {"region": region, "image": image_id, "accountId": ACCOUNT}
            for region, image_id in amis.items()
        ]
        image.builds[0].tags = {"stage": "prod"}
        tags = Tags(build_arn, amis)

        from image_lookup import sdk
        from image_lookup.retry import DEFAULT_RETRY_POLICY

        operations = OperationCounter()
        sdk.session().events.register("before-send", operations)
        deadline = Deadline(budget_seconds=24 * 3600.0, reserve_seconds=0.0)
        keeper = Registry(
            PinStore.for_table(REGISTRY_NAME, REGION, deadline, DEFAULT_RETRY_POLICY),
            BuildMarker(ACCOUNT, deadline, DEFAULT_RETRY_POLICY),
            lease_seconds=LEASE_SECONDS,
        )

        acquire_calls: list[int] = []
        acquire_operations: dict[str, dict[str, int]] = {}
        samples: dict[int, dict[str, dict[str, int]]] = {}
        started = time.perf_counter()
        for number in range(1, stacks + 1):
            before, before_ops = keeper.calls, operations.counts.copy()
            outcome = keeper.acquire(holder(number).pin(build_arn))
            assert outcome == "acquired", outcome
            acquire_calls.append(keeper.calls - before)
            if number in (1, stacks):
                acquire_operations[str(number)] = operations.since(before_ops)
            if number in TAG_SAMPLES:
                samples[number] = tags.per_resource()
        acquire_seconds = time.perf_counter() - started
        samples[stacks] = tags.per_resource()

        release_calls: list[int] = []
        release_operations: dict[str, dict[str, int]] = {}
        outcomes: Counter[str] = Counter()
        started = time.perf_counter()
        for number in range(1, stacks + 1):
            before, before_ops = keeper.calls, operations.counts.copy()
            outcomes[keeper.release(holder(number).pin(build_arn))] += 1
            release_calls.append(keeper.calls - before)
            if number in (1, stacks):
                release_operations[str(number)] = operations.since(before_ops)
        release_seconds = time.perf_counter() - started
        after_release = tags.per_resource()
        sdk.session().events.unregister("before-send", operations)
        legacy = legacy_design(ec2[REGION], build_arn, stacks)
    finally:
        moto.stop()
        fake.stop()
    most_ours = max(count["ours"] for sample in samples.values() for count in sample.values())
    return {
        "stacks": stacks,
        "acquire": {
            "calls_first": acquire_calls[0],
            "calls_mean": statistics.mean(acquire_calls),
            "calls_max": max(acquire_calls),
            "calls_last": acquire_calls[-1],
            "operations": acquire_operations,
            "seconds": acquire_seconds,
        },
        "release": {
            "calls_first": release_calls[0],
            "calls_mean": statistics.mean(release_calls),
            "calls_max": max(release_calls),
            "calls_last": release_calls[-1],
            "operations": release_operations,
            "outcomes": dict(outcomes),
            "seconds": release_seconds,
        },
        "tags_after": {str(number): sample for number, sample in sorted(samples.items())},
        "most_tags_of_ours": most_ours,
        "tags_after_last_release": after_release,
        "legacy_0_3_0": legacy,
    }


def markdown(figures: dict[str, Any]) -> list[str]:
    """The section ``python -m bench`` prints."""
    acquire, release = figures["acquire"], figures["release"]
    stacks = figures["stacks"]

    def operations(by_operation: dict[str, int]) -> str:
        return ", ".join(f"{op} {n}" for op, n in by_operation.items())

    final = figures["tags_after"][str(stacks)]
    legacy = figures["legacy_0_3_0"]
    failing = legacy["failing_stack"]
    legacy_line = (
        f"stack {failing}'s CreateTags fails with {legacy['error']}"
        if failing
        else f"all {stacks} stacks fit (unexpected)"
    )
    return [
        "",
        f"## 10. One build protected by {stacks} stacks (pin registry; local endpoints)",
        "",
        f"| report | calls: first | mean | max | last | first report's calls | last report's "
        f"calls | all {stacks} |",
        "|---|---|---|---|---|---|---|---|",
        f"| acquire | {acquire['calls_first']} | {acquire['calls_mean']:.2f} | "
        f"{acquire['calls_max']} | {acquire['calls_last']} | "
        f"{operations(acquire['operations']['1'])} | "
        f"{operations(acquire['operations'][str(stacks)])} | {acquire['seconds']:.1f} s |",
        f"| release | {release['calls_first']} | {release['calls_mean']:.2f} | "
        f"{release['calls_max']} | {release['calls_last']} | "
        f"{operations(release['operations']['1'])} | "
        f"{operations(release['operations'][str(stacks)])} | {release['seconds']:.1f} s |",
        "",
        "Tags of ours (all tags) after N stacks: "
        + "; ".join(
            f"{number}: "
            + ", ".join(f"{name} {c['ours']} ({c['all']})" for name, c in sample.items())
            for number, sample in figures["tags_after"].items()
        )
        + f". Most of ours on any resource: **{figures['most_tags_of_ours']}**; after the "
        "last release: "
        + ", ".join(f"{name} {c['ours']}" for name, c in figures["tags_after_last_release"].items())
        + f" (release outcomes: {release['outcomes']}).",
        "",
        f"0.3.0's design (one `pinned-by` tag per stack, {TAG_LIMIT}-tag limit) on an AMI of "
        f"the same build: {legacy_line}; this design keeps "
        f"{max(c['ours'] for c in final.values())} tag of ours at {stacks} stacks.",
    ]


def main(argv: list[str]) -> None:
    """Run and print JSON; ``--markdown`` prints the section instead."""
    args = [arg for arg in argv if arg != "--markdown"]
    figures = run(int(args[0]) if args else STACKS)
    print("\n".join(markdown(figures)) if "--markdown" in argv else json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
