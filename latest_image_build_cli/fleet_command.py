"""``latest-image-build fleet``: the image factory's view of what is pinned where.

Run with the factory account's credentials in a region where an ``ImageFactory``
is deployed. It reads the pin registry (every holder of every build: account,
region, stack, lookup, lease) and the factory's own builds, and prints which
builds are pinned, by whom, and which AVAILABLE builds nobody pins any more
(candidates to deprecate). Holders whose lease ended count for nothing; they are
listed apart until the registry's daily sweep forgets them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from image_lookup.deadline import Deadline
from image_lookup.errors import ImageLookupError, one_line
from image_lookup.imagebuilder_api import ImageBuilderGateway
from image_lookup.pins import REGISTRY_NAME
from latest_image_build_cli.check_report import markdown_code
from latest_image_build_cli.cli_errors import CommandError
from latest_image_build_cli.exit_codes import OK
from pin_registry.store_api import HolderRecord, PinStore

FORMATS = ("table", "json", "markdown")
COLUMNS = ("Build", "Account", "Region", "Stack", "Lookup", "Lease ends")
#: Build states a lookup could still pin (the only ones worth deprecating).
PINNABLE_STATES = ("AVAILABLE",)


class FleetView(NamedTuple):
    """The registry's holders by build, and the factory's builds nobody holds."""

    pinned: dict[str, list[HolderRecord]]
    ended: list[HolderRecord]
    unpinned: list[str]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fleet`` options."""
    parser.add_argument(
        "--region", help="the registry's region (default: the AWS SDK's configured region)"
    )
    parser.add_argument(
        "--table",
        default=REGISTRY_NAME,
        help=f"the registry's DynamoDB table (default {REGISTRY_NAME}, as ImageFactory names it)",
    )
    parser.add_argument(
        "--image", help="only builds of this image (the name in its ARN, e.g. golden-al2023)"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="default table")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds for the whole run (default 300)"
    )


def run(args: argparse.Namespace) -> int:
    """Print the fleet view; 0, or a one-line failure."""
    deadline = Deadline(budget_seconds=args.timeout, reserve_seconds=0.0)
    now = int(time.time())
    store = PinStore.for_table(args.table, args.region, deadline)
    try:
        records = [r for r in store.holders() if not args.image or _image(r.build) == args.image]
    except ImageLookupError as error:
        if "ResourceNotFoundException" in error.reason:
            raise CommandError(
                f"no pin registry table {args.table!r} in region {args.region or 'configured'}: "
                "deploy an ImageFactory there, or pass --table and --region"
            ) from error
        raise
    builds = ImageBuilderGateway.for_region(args.region, deadline)
    view = fleet_view(records, _own_builds(builds, args.image), now)
    sys.stdout.write(render(view, args.format))
    return OK


def fleet_view(records: Iterable[HolderRecord], own_builds: Iterable[str], now: int) -> FleetView:
    """Group live holders by build; ended leases apart; own builds without a live holder."""
    pinned: dict[str, list[HolderRecord]] = {}
    ended: list[HolderRecord] = []
    for record in records:
        if record.expires_at > now:
            pinned.setdefault(record.build, []).append(record)
        else:
            ended.append(record)
    for holders in pinned.values():
        holders.sort(key=lambda r: (r.account, r.region, r.stack_name, r.logical_id))
    unpinned = sorted(set(own_builds) - set(pinned))
    return FleetView(dict(sorted(pinned.items())), ended, unpinned)


def render(view: FleetView, output_format: str) -> str:
    """The view as a table, JSON or Markdown."""
    if output_format == "json":
        return json.dumps(as_json(view), indent=2) + "\n"
    rows = [
        [_short(build), r.account, r.region, r.stack_name, r.logical_id, _when(r.expires_at)]
        for build, holders in view.pinned.items()
        for r in holders
    ]
    unpinned = [_short(build) for build in view.unpinned]
    summary = (
        f"{len(view.pinned)} builds pinned by {len(rows)} lookups; "
        f"{len(unpinned)} available builds nobody pins"
        + (f"; {len(view.ended)} ended leases await the sweep" if view.ended else "")
    )
    if output_format == "markdown":
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(markdown_code(cell) for cell in row) + " |" for row in rows]
        lines += [
            "",
            f"**Nobody pins** ({len(unpinned)}): " + ", ".join(map(markdown_code, unpinned)),
        ]
        return "\n".join([*lines, "", summary]) + "\n"
    return _table(rows, unpinned) + summary + "\n"


def as_json(view: FleetView) -> dict[str, Any]:
    """The view as a JSON document."""

    def holder(record: HolderRecord) -> dict[str, Any]:
        return {
            "account": record.account,
            "region": record.region,
            "stack": record.stack_name,
            "stackId": record.stack_id,
            "logicalId": record.logical_id,
            "leaseEnds": _when(record.expires_at),
            "acquiredAt": record.acquired_at,
            "renewedAt": record.renewed_at,
        }

    return {
        "pinned": [
            {"build": build, "holders": [holder(r) for r in holders]}
            for build, holders in view.pinned.items()
        ],
        "unpinned": view.unpinned,
        "endedLeases": [holder(r) | {"build": r.build} for r in view.ended],
    }


def _own_builds(gateway: ImageBuilderGateway, image: str | None) -> list[str]:
    """ARNs of this account's builds a lookup could pin (``PINNABLE_STATES``)."""
    found = []
    for version in gateway.image_versions(owner="Self", name_filter=None):
        if image and _image(version.arn) != image:
            continue
        found += [b.arn for b in gateway.builds(version.arn) if b.state in PINNABLE_STATES]
    return found


def _table(rows: Sequence[Sequence[str]], unpinned: Sequence[str]) -> str:
    shown = [list(COLUMNS), *([one_line(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in shown) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in shown
    ]
    lines.append("")
    lines.append("Nobody pins: " + (", ".join(one_line(b) for b in unpinned) or "-"))
    return "\n".join(lines) + "\n"


def _image(build_arn: str) -> str:
    """``arn:...:image/<name>/1.2.3/4`` -> ``<name>``."""
    return build_arn.split(":image/", 1)[-1].split("/")[0]


def _short(build_arn: str) -> str:
    """``arn:...:image/golden/1.2.3/4`` -> ``golden/1.2.3/4``."""
    return build_arn.split(":image/", 1)[-1]


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="minutes").replace("+00:00", "Z")
