"""Calls per lookup of an own image with and without promotion gates (counted, not timed).

``python -m bench.gated_calls`` prints one JSON list: for 1, 10 and 100 builds per
version (10 versions, the oldest build of each tagged ``stage=prod``), the calls an
ungated lookup and a gated one (``RequireTags={"stage": "prod"}``) make.
"""

from __future__ import annotations

import json
import os

from local_endpoints.imagebuilder import ACCOUNT, REGION, FakeImageBuilder

BUILDS_PER_VERSION = (1, 10, 100)
VERSIONS = 10


def calls(fake: FakeImageBuilder, builds: int, gated: bool) -> dict[str, int]:
    """Run one handler lookup against a fresh catalogue; return calls by operation."""
    from image_lookup.handler import on_event

    fake.images.clear()
    fake.calls.clear()
    for minor in range(VERSIONS):
        image = fake.add("golden", f"1.{minor}.0", *["AVAILABLE"] * builds)
        image.builds[0].tags = {"stage": "prod"}
    properties: dict[str, object] = {"ImageName": "golden", "VersionSelector": "1.x.x"}
    if gated:
        properties["RequireTags"] = {"stage": "prod"}
    event = {
        "RequestType": "Create",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/Bench/1",
        "ResourceProperties": properties,
    }
    on_event(event, None)
    return dict(fake.counts())


def main() -> None:
    """Print the rows as JSON."""
    fake = FakeImageBuilder().start()
    os.environ.update(fake.client_environment())
    rows = [
        {
            "builds": builds,
            "ungated": calls(fake, builds, False),
            "gated": calls(fake, builds, True),
        }
        for builds in BUILDS_PER_VERSION
    ]
    fake.stop()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
