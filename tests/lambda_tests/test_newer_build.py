"""The newer-build evaluator's input and order, and the custom resource's cold start without it.

End to end (synthesized rules, the evaluator's asset under awslambdaric, moto's
EventBridge) is in ``tests/e2e_tests/test_newer_build.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from image_lookup.errors import InvalidInputError
from image_lookup.newer_build import Watch, build_version_of

#: The repository (not from tests.support.synth: these tests also run where aws-cdk-lib is not)
REPO = Path(__file__).resolve().parents[2]

PIN = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden-al2023/1.4.0/3"


def watch_input(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "Lookup": {
            "ImageName": "golden-al2023",
            "VersionSelector": "1.x.x",
            "Owner": "Self",
            "RequireTags": {"stage": "prod"},
            "MinAgeSeconds": "3600",
        },
        "PinnedBuildArn": PIN,
        "Stack": "Golden",
        "ConstructPath": "Golden/Lookup",
    }
    event.update(changes)
    return {key: value for key, value in event.items() if value is not None}


def test_the_input_is_the_lookups_properties_and_its_pin() -> None:
    watch = Watch(watch_input())
    assert watch.request.image_name == "golden-al2023"
    assert watch.request.selector.fixed == (1,)
    assert watch.request.gates.require_tags == (("stage", "prod"),)
    assert watch.request.gates.min_age_seconds == 3600
    assert watch.pinned == ((1, 4, 0), 3, "1.4.0/3")
    assert (watch.stack, watch.construct_path) == ("Golden", "Golden/Lookup")


def test_the_deploys_switches_are_not_the_evaluators() -> None:
    """Refreshing and protecting (tagging) the pin belong to the deploy."""
    lookup = {**watch_input()["Lookup"], "RefreshToken": "1", "ProtectPinnedBuild": "true"}
    assert Watch(watch_input(Lookup=lookup)).request.protect is False


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"Lookup": None}, "Lookup"),
        ({"Lookup": {"ImageName": "golden", "VersionSelector": "1.x"}}, "'1.x'"),
        ({"PinnedBuildArn": ""}, "PinnedBuildArn"),
        ({"PinnedBuildArn": "golden/1.4.0/3"}, "golden/1.4.0/3"),
        ({"PinnedBuildArn": PIN.rsplit("/", 1)[0]}, "does not end in a build version"),
        ({"ConstructPath": None}, "ConstructPath"),
    ],
)
def test_bad_input_is_named(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInputError, match=named.replace("(", r"\(")):
        Watch(watch_input(**changes))


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        ("1.10.0/1", "1.9.0/7"),  # numeric, not text, order
        ("1.4.0/10", "1.4.0/9"),
        ("2.0.0/1", "1.99.99/99"),
    ],
)
def test_builds_order_by_version_then_build_number(newer: str, older: str) -> None:
    def of(version: str) -> tuple[tuple[int, int, int], int]:
        parsed = build_version_of(f"arn:aws:imagebuilder:us-east-1:aws:image/x/{version}")
        return parsed.version, parsed.build

    assert of(newer) > of(older)


def test_leading_zeros_name_the_same_build() -> None:
    """The service keeps ``2019.12.03`` as written (AWS CLI list-images example)."""
    written = build_version_of("arn:aws:imagebuilder:us-east-1:aws:image/x/2019.12.03/1")
    assert (
        written[:2]
        == build_version_of("arn:aws:imagebuilder:us-east-1:aws:image/x/2019.12.3/1")[:2]
    )
    assert written.text == "2019.12.03/1"


def test_the_custom_resource_handler_does_not_load_the_evaluator() -> None:
    """The lookup's cold start stays as it was: no evaluator, no EventBridge client code."""
    script = (
        "import json, sys, image_lookup.handler; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('image_lookup'))))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO / "lambda",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert "image_lookup.handler" in loaded
    assert not {"image_lookup.newer_build", "image_lookup.events_api"} & set(loaded)
