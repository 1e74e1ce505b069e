"""The handler learns how many lookups its stack has, so a large stack spreads its calls."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import LatestImageBuild
from image_lookup.pacing import LOOKUPS_ENV, SPREAD_MIN_LOOKUPS

pytestmark = pytest.mark.synth


def handler_properties(lookups: int) -> dict[str, Any]:
    app = cdk.App()
    stack = cdk.Stack(app, "Lookups")
    for index in range(lookups):
        LatestImageBuild(stack, f"Lookup{index}", image_name=f"image-{index}")
    functions = Template.from_stack(stack).find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "image_lookup.handler.on_event"}}
    )
    (function,) = functions.values()
    properties: dict[str, Any] = function["Properties"]
    return properties


def test_a_large_stack_tells_the_handler_its_number_of_lookups() -> None:
    lookups = SPREAD_MIN_LOOKUPS + 1
    environment = handler_properties(lookups)["Environment"]["Variables"]
    assert environment == {LOOKUPS_ENV: str(lookups)}


def test_a_small_stack_leaves_the_handler_without_environment() -> None:
    assert "Environment" not in handler_properties(SPREAD_MIN_LOOKUPS)
