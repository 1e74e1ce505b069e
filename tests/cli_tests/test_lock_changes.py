"""The change table ``lock`` prints: one row per added, re-pinned, re-queried or removed entry."""

from __future__ import annotations

from datetime import datetime, timezone

from constructs_lib.lock_file import LockEntry, StackPlace
from image_lookup.contract import ATTRIBUTE_KEYS, Attribute
from latest_image_build_cli.lock_changes import changes_between, render_table

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
QUERY = {"ImageName": "service", "VersionSelector": "x.x.x", "Owner": "Self"}


def ami(number: int) -> str:
    """An AMI id as EC2 gives them: ``ami-`` and 17 hexadecimal digits."""
    return f"ami-{number:017x}"


def entry(version: str, region: str, *, uri: str = "", ami: str = "", **query: str) -> LockEntry:
    """A valid entry (lock_values): the build ARN of image ``service`` in ``region``."""
    arn = f"arn:aws:imagebuilder:{region}:111122223333:image/service/{version}"
    pin = dict.fromkeys(ATTRIBUTE_KEYS, "")
    pin.update(
        {
            Attribute.IMAGE_BUILD_VERSION_ARN: f"{arn}/1",
            Attribute.IMAGE_VERSION_ARN: arn,
            Attribute.IMAGE_NAME: "service",
            Attribute.VERSION: version,
            Attribute.BUILD_VERSION: f"{version}/1",
            Attribute.AMI_ID: ami,
            Attribute.CONTAINER_IMAGE_URI: uri,
            Attribute.DATE_CREATED: "2026-11-26T09:00:00.000Z",
        }
    )
    entry = LockEntry({**QUERY, **query}, StackPlace(region), pin)
    assert entry.problem() is None
    return entry


def test_rows_say_what_changed_per_entry() -> None:
    uri = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/service:3.1.0-1"
    old = {
        "App/Moved": entry("1.0.0", "us-east-1", ami=ami(1)),
        "App/Requeried": entry("2.0.0", "eu-west-1", ami=ami(2)),
        "App/Gone": entry("0.9.0", "eu-west-1", ami=ami(3)),
        "App/Same": entry("5.0.0", "eu-west-1", ami=ami(5)),
    }
    new = {
        "App/Moved": entry("1.0.0", "eu-west-1", ami=ami(4)),
        "App/Requeried": entry("2.0.0", "eu-west-1", ami=ami(2), Platform="Linux"),
        "App/Service": entry("3.1.0", "eu-west-1", uri=uri),
        "App/Same": old["App/Same"],
    }
    changes = changes_between(old, new)
    assert [(c.path, c.kind) for c in changes] == [
        ("App/Gone", "removed"),
        ("App/Moved", "re-pinned"),
        ("App/Requeried", "query changed"),
        ("App/Service", "added"),
    ]
    assert render_table(changes, NOW).splitlines()[2:] == [
        "| `App/Gone` | removed | service | 0.9.0 → (removed) | 0.9.0/1 → (removed) |  | "
        f"eu-west-1: `{ami(3)}` → (removed) |",
        "| `App/Moved` | re-pinned | service | 1.0.0 | 1.0.0/1 | 3 days | "
        f"us-east-1 → eu-west-1: `{ami(1)}` → `{ami(4)}` |",
        "| `App/Requeried` | query changed | service | 2.0.0 | 2.0.0/1 | 3 days | "
        f"eu-west-1: `{ami(2)}` |",
        "| `App/Service` | added | service | (none) → 3.1.0 | (none) → 3.1.0/1 | 3 days | "
        f"eu-west-1: (none) → `{uri}` |",
    ]


def test_an_entry_edited_by_hand_is_named_with_its_invalid_value() -> None:
    """README "Lock mode": an entry no deploy would pin (a dynamic reference, another image's
    ARN) is out of date; the table says so, and which value it was."""
    good = entry("1.0.0", "eu-west-1", ami=ami(1))
    edited = good._replace(pin={**good.pin, "AmiId": "{{resolve:ssm:/golden/ami}}"})
    changes = changes_between({"App/Edited": edited}, {"App/Edited": good})
    assert [change.kind for change in changes] == ["invalid, re-pinned"]
    lines = render_table(changes, NOW).splitlines()
    assert lines[2].startswith("| `App/Edited` | invalid, re-pinned | service |")
    assert lines[3:5] == ["", "Entries that held a value no deploy would pin (edited by hand?):"]
    assert lines[5].startswith(
        "- `App/Edited`: AmiId '{{resolve:ssm:/golden/ami}}' is a CloudFormation dynamic reference"
    )


def test_a_pipe_in_a_construct_path_does_not_break_the_table() -> None:
    changes = changes_between({}, {"App/a|b": entry("1.0.0", "eu-west-1", ami=ami(1))})
    row = render_table(changes, NOW).splitlines()[2]
    assert row.startswith("| `App/a\\|b` | added |")
    assert row.count(" | ") == 6
