"""Random and hostile property values: a valid resolution or a clear one-line error."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from image_lookup.contract import ATTRIBUTE_KEYS as DATA_KEYS
from image_lookup.contract import PROPERTY_KEYS as KNOWN_PROPERTIES
from image_lookup.errors import MAX_REASON_LENGTH, ImageLookupError
from image_lookup.handler import on_event
from local_endpoints.imagebuilder import FakeImageBuilder
from tests.support.lambda_context import FakeLambdaContext

NAME = "golden-al2023"
plausible_text = st.sampled_from(
    [NAME, "x.x.x", "1.x.x", "1.0.x", "Self", "Amazon", "AMI", "DOCKER", "true", "false", "Linux",
     "us-east-1", "", " ", "1.x.3", "Self ", "TRUE"]
)  # fmt: skip
hostile_values = st.one_of(
    plausible_text,
    st.text(max_size=50),
    st.text(alphabet=st.characters(min_codepoint=0x80), max_size=20),  # unicode only
    st.text(min_size=2000, max_size=5000),  # huge
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
properties = st.dictionaries(
    keys=st.one_of(st.sampled_from(sorted(KNOWN_PROPERTIES)), st.text(max_size=20)),
    values=hostile_values,
    max_size=8,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(props=properties, request_type=st.sampled_from(["Create", "Update"]))
def test_hostile_properties_end_cleanly(
    fake: FakeImageBuilder, props: dict[str, Any], request_type: str
) -> None:
    if not fake.images:
        fake.add(NAME, "1.0.0")
        fake.add(NAME, "1.1.0", image_type="DOCKER")
    event = {
        "RequestType": request_type,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/S/g",
        "ResourceProperties": props,
    }
    try:
        result = on_event(event, FakeLambdaContext())
    except ImageLookupError as error:
        reason = str(error)
        assert reason and "\n" not in reason and len(reason) <= MAX_REASON_LENGTH
        return
    assert sorted(result["Data"]) == sorted(DATA_KEYS)
    assert result["PhysicalResourceId"] == result["Data"]["ImageBuildVersionArn"]
    assert result["Data"]["ImageName"] == props["ImageName"] == NAME


@settings(max_examples=100, deadline=None)
@given(event=st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers())))
def test_events_that_are_not_objects_end_cleanly(event: Any) -> None:
    try:
        on_event(event, FakeLambdaContext())
    except ImageLookupError as error:
        assert "\n" not in str(error)
