"""Preview a lookup from the shell: prints, as JSON, what a deploy would pin."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from image_lookup.deadline import Deadline
from image_lookup.errors import ImageLookupError
from image_lookup.lookup import lookup_image
from image_lookup.models import ImageOwner
from image_lookup.properties import DEFAULT_SELECTOR, parse_properties


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments, mirroring the construct's properties."""
    parser = argparse.ArgumentParser(
        prog="latest-image-build",
        description="Print the EC2 Image Builder build a LatestImageBuild lookup would pin.",
    )
    parser.add_argument("--name", required=True, help="image name as Image Builder lists it")
    parser.add_argument("--version", default=DEFAULT_SELECTOR, help="selector (default x.x.x)")
    parser.add_argument(
        "--owner",
        default=ImageOwner.SELF.value,
        help="Self, Shared, Amazon, ThirdParty or AWSMarketplace (default Self)",
    )
    parser.add_argument("--platform", help="Windows, Linux or macOS")
    parser.add_argument("--os-version", help="e.g. 'Amazon Linux 2023'")
    parser.add_argument("--type", dest="image_type", help="AMI or DOCKER")
    parser.add_argument(
        "--include-deprecated", action="store_true", help="let DEPRECATED builds win (own images)"
    )
    parser.add_argument("--region", help="region the image lives in (default: the SDK's)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to keep retrying (default 120)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the preview; exit 0 with JSON on stdout, 1 with a one-line reason on stderr."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, format="%(message)s")
    properties = {
        "ImageName": args.name,
        "VersionSelector": args.version,
        "Owner": args.owner,
        "Platform": args.platform,
        "OsVersion": args.os_version,
        "ImageType": args.image_type,
        "IncludeDeprecated": "true" if args.include_deprecated else "false",
        "Region": args.region,
    }
    try:
        request = parse_properties({key: value for key, value in properties.items() if value})
        data = lookup_image(request, Deadline(reserve_seconds=0.0, budget_seconds=args.timeout))
    except ImageLookupError as error:
        print(f"latest-image-build: {error.reason}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2))
    return 0
