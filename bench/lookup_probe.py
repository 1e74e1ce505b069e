"""One lookup against a running endpoint: calls made, the minimum possible, peak memory.

``python -m bench.lookup_probe URL VERSIONS`` prints one JSON object.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import tracemalloc

from bench.serve_fake import IMAGE


def main() -> None:
    """Run the lookup with tracemalloc on and report."""
    url, versions = sys.argv[1], int(sys.argv[2])
    os.environ.update(
        AWS_ENDPOINT_URL_IMAGEBUILDER=url,
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    from image_lookup.deadline import Deadline
    from image_lookup.imagebuilder_api import MAX_PAGE_SIZE, ImageBuilderGateway
    from image_lookup.properties import parse_properties
    from image_lookup.resolver import resolve

    request = parse_properties({"ImageName": IMAGE, "VersionSelector": "1.x.x"})
    tracemalloc.start()
    started = time.perf_counter()
    gateway = ImageBuilderGateway.for_region("us-east-1", Deadline(budget_seconds=300))
    resolution = resolve(request, gateway)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # every page of the name's versions, then one build call
    minimum = math.ceil(versions / MAX_PAGE_SIZE) + 1
    print(
        json.dumps(
            {
                "calls": gateway.calls,
                "minimum": minimum,
                "peak_mib": peak / 2**20,
                "seconds": seconds,
                "chosen": resolution.build.build_version_text,
            }
        )
    )


if __name__ == "__main__":
    main()
