"""Invalid literal input raises at construction, naming the value; tokens pass through."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import ImageOwner, LatestImageBuild

pytestmark = pytest.mark.synth

BAD_INPUTS = [
    ({"version": "1.x.3"}, "'1.x.3'"),
    ({"version": "1.2"}, "'1.2'"),
    ({"version": "1.X.x"}, "'1.X.x'"),
    ({"version": "v1.2.3"}, "'v1.2.3'"),
    ({"version": "1073741824.x.x"}, "'1073741824.x.x'"),
    ({"version": ""}, "''"),
    ({"require_tags": {"aws:reserved": "x"}}, "'aws:reserved'"),
    ({"exclude_tags": {"stage": None}}, "None"),
    ({"min_age": cdk.Duration.millis(10)}, "10 millis"),
    ({"owner": "Amazon", "include_deprecated": True}, "not 'Amazon'"),
    ({"owner": ImageOwner.SHARED, "include_deprecated": True}, "not 'Shared'"),
    ({"image_account": "12345678901"}, "'12345678901'"),
    ({"image_account": "Amazon"}, "'Amazon'"),
    ({"protect_pinned_build": "yes"}, "'yes'"),
    ({"owner": "Everyone"}, "'Everyone'"),
    ({"image_name": "no*wildcards"}, "'no*wildcards'"),
    ({"image_name": "x"}, "'x'"),
    ({"image_name": "trailing space "}, "'trailing space '"),
    ({"image_type": "ISO"}, "'ISO'"),
    ({"region": "mars-1"}, "'mars-1'"),
    ({"platform": "Linux*"}, "'Linux*'"),
    # the service's Platform enum (botocore imagebuilder model): Windows, Linux, macOS
    ({"platform": "Solaris"}, "invalid platform 'Solaris': use one of Windows, Linux, macOS"),
    ({"platform": "Linux "}, "'Linux '"),
    ({"min_age": 300}, "min_age must be a Duration (e.g. Duration.hours(36)), got 300"),
    ({"min_age": -5}, "min_age must be a Duration"),
    ({"min_age": cdk.Duration.seconds(1.5)}, "invalid min_age '1 second 500 millis'"),
    ({"refresh_token": "t1"}, "'t1'"),
    ({"include_deprecated": "false"}, "'false'"),
    ({"refresh_on_every_deploy": 0}, "0"),
    ({"image_name": 42}, "42"),
]


@pytest.mark.parametrize(("override", "shown"), BAD_INPUTS)
def test_invalid_literal_raises_naming_the_value(override: dict[str, Any], shown: str) -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    props: dict[str, Any] = {"image_name": "golden-al2023", **override}
    with pytest.raises(ValueError) as caught:
        LatestImageBuild(stack, "Lookup", **props)
    message = str(caught.value)
    assert shown in message
    assert "\n" not in message
    # nothing half-done: neither the lookup nor the shared provider was added
    assert stack.node.try_find_child("Lookup") is None
    assert stack.node.try_find_child("LatestImageBuildProvider") is None


def test_tokens_pass_through_to_deploy_time() -> None:
    stack = cdk.Stack(cdk.App(), "Tokens")
    name = cdk.CfnParameter(stack, "Name").value_as_string
    selector = cdk.CfnParameter(stack, "Selector").value_as_string
    owner = cdk.CfnParameter(stack, "Owner").value_as_string
    LatestImageBuild(stack, "Lookup", image_name=name, version=selector, owner=owner)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "Custom::LatestImageBuild",
        {
            "ImageName": {"Ref": "Name"},
            "VersionSelector": {"Ref": "Selector"},
            "Owner": {"Ref": "Owner"},
        },
    )
    # an owner unknown at synth time may be any account's
    policies = template.find_resources("AWS::IAM::Policy")
    assert ":*:image/*" in str(policies)


def test_owner_accepts_the_api_string() -> None:
    stack = cdk.Stack(cdk.App(), "Owner")
    LatestImageBuild(stack, "Lookup", image_name="golden", owner="AWSMarketplace")
    Template.from_stack(stack).has_resource_properties(
        "Custom::LatestImageBuild", {"Owner": "AWSMarketplace"}
    )


@pytest.mark.parametrize("version", ["2019.12.03", "01.x.x", "2019.x.x"])
def test_leading_zeros_are_accepted_at_synth_as_the_handler_accepts_them(version: str) -> None:
    from image_lookup.versions import parse_selector

    stack = cdk.Stack(cdk.App(), "Zeros")
    LatestImageBuild(stack, "Lookup", image_name="golden", version=version)
    Template.from_stack(stack).has_resource_properties(
        "Custom::LatestImageBuild", {"VersionSelector": version}
    )
    assert parse_selector(version).text == version  # the deploy-time parser agrees


def test_gate_values_may_be_tokens() -> None:
    stack = cdk.Stack(cdk.App(), "GateTokens")
    stage = cdk.CfnParameter(stack, "Stage").value_as_string
    LatestImageBuild(stack, "Lookup", image_name="golden", require_tags={"stage": stage})
    Template.from_stack(stack).has_resource_properties(
        "Custom::LatestImageBuild", {"RequireTags": {"stage": {"Ref": "Stage"}}}
    )


@pytest.mark.parametrize(
    ("given", "spelled"),
    [("linux", "Linux"), ("WINDOWS", "Windows"), ("MacOS", "macOS"), ("Linux", "Linux")],
)
def test_platform_takes_any_case_and_the_template_has_the_services_spelling(
    given: str, spelled: str
) -> None:
    """README Properties: platform is Linux, Windows or macOS, in any case as the owner is."""
    from image_lookup.properties import parse_properties

    stack = cdk.Stack(cdk.App(), "Platform")
    LatestImageBuild(stack, "Lookup", image_name="golden", platform=given)
    Template.from_stack(stack).has_resource_properties(
        "Custom::LatestImageBuild", {"Platform": spelled}
    )
    # the deploy-time parser agrees, and refuses what synth refuses
    assert parse_properties({"ImageName": "golden", "Platform": given}).filters.platform == spelled
    with pytest.raises(ValueError, match="invalid platform 'Solaris'"):
        parse_properties({"ImageName": "golden", "Platform": "Solaris"})


def test_a_platform_token_passes_to_deploy_time() -> None:
    stack = cdk.Stack(cdk.App(), "PlatformToken")
    platform = cdk.CfnParameter(stack, "Platform").value_as_string
    LatestImageBuild(stack, "Lookup", image_name="golden", platform=platform)
    Template.from_stack(stack).has_resource_properties(
        "Custom::LatestImageBuild", {"Platform": {"Ref": "Platform"}}
    )


def test_a_negative_duration_never_reaches_the_construct() -> None:
    """aws-cdk-lib refuses ``Duration.seconds(-5)`` itself, in the call that makes it (its
    message names the amount); every Duration that does reach ``min_age`` is checked there."""
    with pytest.raises(RuntimeError, match=r"Duration amounts cannot be negative\. Received: -5"):
        cdk.Duration.seconds(-5)


def test_a_capitalized_name_without_spaces_warns_at_synth() -> None:
    """README "An image has two names": the listed name exactly, or its lowercase ARN form.
    Capitals without a space may be a mistyped ARN form (``Golden-AL2023``), or the exact name
    an image was created with (the service keeps it: ``MyExampleRecipe`` in the AWS CLI's
    examples), so synth warns and does not fail."""
    from aws_cdk.assertions import Annotations, Match

    stack = cdk.Stack(cdk.App(), "Names")
    LatestImageBuild(stack, "Typo", image_name="Golden-AL2023")
    LatestImageBuild(stack, "Listed", image_name="Amazon Linux 2023 x86", owner="Amazon")
    LatestImageBuild(stack, "ArnForm", image_name="golden-al2023")
    warnings = Annotations.from_stack(stack).find_warning("*", Match.any_value())
    assert [(w.id, w.entry.data) for w in warnings] == [
        (
            "/Names/Typo",
            "image_name 'Golden-AL2023' has capital letters and no space: it names an image "
            "only if the image is listed with exactly this name; the ARN form is "
            "'golden-al2023' (README: An image has two names) "
            "[ack: latest-image-build:imageNameSpelling]",
        )
    ]
