"""Random catalogues end to end: the handler's pick equals a plain-Python reading of the rules."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from image_lookup.errors import NoMatchingImageError
from image_lookup.handler import on_event
from local_endpoints.imagebuilder import FakeImageBuilder
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext

NAME = "golden"
STATES = ["AVAILABLE", "FAILED", "CANCELLED", "BUILDING", "DEPRECATED", "DISABLED", "DELETED"]
node = st.integers(min_value=0, max_value=12)
catalogue = st.dictionaries(
    keys=st.tuples(node, node, node),
    values=st.lists(st.sampled_from(STATES), min_size=1, max_size=4),
    max_size=12,
)
selector = st.one_of(
    st.just("x.x.x"),
    node.map(lambda a: f"{a}.x.x"),
    st.tuples(node, node).map(lambda v: f"{v[0]}.{v[1]}.x"),
    st.tuples(node, node, node).map(lambda v: ".".join(map(str, v))),
)


def expected_build(
    versions: dict[tuple[int, int, int], list[str]], text: str, include_deprecated: bool
) -> str | None:
    """The contract's rules, read literally: highest matching version with a usable build."""
    usable = {"AVAILABLE", "DEPRECATED"} if include_deprecated else {"AVAILABLE"}
    wanted = text.split(".")
    for version in sorted(versions, reverse=True):
        if all(w == "x" or int(w) == v for w, v in zip(wanted, version, strict=True)):
            available = [n for n, s in enumerate(versions[version], 1) if s in usable]
            if available:
                return f"{'.'.join(map(str, version))}/{max(available)}"
    return None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@example(  # newest of several usable builds, through ListImageBuildVersions
    versions={(1, 0, 0): ["AVAILABLE", "DEPRECATED", "FAILED"]},
    text="x.x.x",
    page_size=1,
    include_deprecated=True,
)
@example(  # numeric order and fallback past a version without a usable build
    versions={(1, 9, 0): ["AVAILABLE"], (1, 10, 0): ["AVAILABLE"], (1, 11, 0): ["FAILED"]},
    text="1.x.x",
    page_size=2,
    include_deprecated=False,
)
@given(
    versions=catalogue,
    text=selector,
    page_size=st.integers(min_value=1, max_value=5),
    include_deprecated=st.booleans(),
)
def test_handler_agrees_with_the_rules(
    fake: FakeImageBuilder,
    versions: dict[Any, list[str]],
    text: str,
    page_size: int,
    include_deprecated: bool,
) -> None:
    fake.images.clear()
    for version, states in versions.items():
        fake.add(NAME, ".".join(map(str, version)), *states)
    fake.shuffle = True
    fake.page_size = page_size
    expected = expected_build(versions, text, include_deprecated)
    event = load_event(
        "create",
        ImageName=NAME,
        VersionSelector=text,
        IncludeDeprecated="true" if include_deprecated else "false",
    )
    try:
        data = on_event(event, FakeLambdaContext())["Data"]
    except NoMatchingImageError:
        assert expected is None
    else:
        assert data["BuildVersion"] == expected
