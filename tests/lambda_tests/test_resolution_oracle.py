"""Random catalogues end to end: the handler's pick equals a plain-Python reading of the rules.

Builds carry random ``stage`` tags; lookups randomly require ``stage=prod`` or exclude
``stage=dev`` (promotion gates), for own images and for shared ones.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from image_lookup.errors import InvalidInputError, NoMatchingImageError
from image_lookup.handler import on_event
from local_endpoints.imagebuilder import FakeImageBuilder
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext

NAME = "golden"
STATES = ["AVAILABLE", "FAILED", "CANCELLED", "BUILDING", "DEPRECATED", "DISABLED", "DELETED"]
node = st.integers(min_value=0, max_value=12)
STAGES = ["prod", "dev", ""]
build = st.tuples(st.sampled_from(STATES), st.sampled_from(STAGES))
catalogue = st.dictionaries(
    keys=st.tuples(node, node, node),
    values=st.lists(build, min_size=1, max_size=4),
    max_size=12,
)
GATES = {
    "none": {},
    "require prod": {"RequireTags": {"stage": "prod"}},
    "exclude dev": {"ExcludeTags": {"stage": "dev"}},
}
selector = st.one_of(
    st.just("x.x.x"),
    node.map(lambda a: f"{a}.x.x"),
    st.tuples(node, node).map(lambda v: f"{v[0]}.{v[1]}.x"),
    st.tuples(node, node, node).map(lambda v: ".".join(map(str, v))),
)


def expected_build(
    versions: dict[tuple[int, int, int], list[tuple[str, str]]],
    text: str,
    include_deprecated: bool,
    gate: str,
    owner: str,
) -> str | None:
    """The contract's rules, read literally: highest matching version with a qualifying build.

    Own images: every usable build is a candidate. Other accounts' images: only each
    version's newest AVAILABLE build (include_deprecated is refused for them).
    """
    own = owner == "Self"
    usable = {"AVAILABLE", "DEPRECATED"} if include_deprecated else {"AVAILABLE"}

    def passes(stage: str) -> bool:
        return {"none": True, "require prod": stage == "prod", "exclude dev": stage != "dev"}[gate]

    wanted = text.split(".")
    for version in sorted(versions, reverse=True):
        if all(w == "x" or int(w) == v for w, v in zip(wanted, version, strict=True)):
            builds = [
                (n, stage) for n, (s, stage) in enumerate(versions[version], 1) if s in usable
            ]
            candidates = builds if own else builds[-1:]
            qualifying = [n for n, stage in candidates if passes(stage)]
            if qualifying:
                return f"{'.'.join(map(str, version))}/{max(qualifying)}"
    return None


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@example(  # newest of several usable builds, through ListImageBuildVersions
    versions={(1, 0, 0): [("AVAILABLE", ""), ("DEPRECATED", ""), ("FAILED", "")]},
    text="x.x.x",
    page_size=1,
    include_deprecated=True,
    gate="none",
    owner="Self",
)
@example(  # numeric order and fallback past a version without a usable build
    versions={
        (1, 9, 0): [("AVAILABLE", "")],
        (1, 10, 0): [("AVAILABLE", "")],
        (1, 11, 0): [("FAILED", "")],
    },
    text="1.x.x",
    page_size=2,
    include_deprecated=False,
    gate="none",
    owner="Self",
)
@example(  # an older promoted build of an own image beats a newer unpromoted one
    versions={(2, 0, 0): [("AVAILABLE", "prod"), ("AVAILABLE", "dev")]},
    text="x.x.x",
    page_size=1,
    include_deprecated=False,
    gate="require prod",
    owner="Self",
)
@example(  # a shared image's newest build fails the gate: its version is skipped
    versions={
        (2, 0, 0): [("AVAILABLE", "prod"), ("AVAILABLE", "dev")],
        (1, 0, 0): [("AVAILABLE", "prod")],
    },
    text="x.x.x",
    page_size=1,
    include_deprecated=False,
    gate="require prod",
    owner="Shared",
)
@given(
    versions=catalogue,
    text=selector,
    page_size=st.integers(min_value=1, max_value=5),
    include_deprecated=st.booleans(),
    gate=st.sampled_from(sorted(GATES)),
    owner=st.sampled_from(["Self", "Shared"]),
)
def test_handler_agrees_with_the_rules(
    fake: FakeImageBuilder,
    versions: dict[Any, list[tuple[str, str]]],
    text: str,
    page_size: int,
    include_deprecated: bool,
    gate: str,
    owner: str,
) -> None:
    fake.images.clear()
    fake.calls.clear()
    for version, builds in versions.items():
        image = fake.add(NAME, ".".join(map(str, version)), *(s for s, _ in builds), owner=owner)
        for fake_build, (_, stage) in zip(image.builds, builds, strict=True):
            fake_build.tags = {"stage": stage} if stage else {}
    fake.shuffle = True
    fake.page_size = page_size
    expected = expected_build(versions, text, include_deprecated, gate, owner)
    event = load_event(
        "create",
        ImageName=NAME,
        VersionSelector=text,
        Owner=owner,
        IncludeDeprecated="true" if include_deprecated else "false",
        **GATES[gate],
    )
    try:
        data = on_event(event, FakeLambdaContext())["Data"]
    except InvalidInputError:
        # the service shows deprecated builds only to their owner: refused, never ignored
        assert include_deprecated and owner != "Self"
        assert fake.calls == []
    except NoMatchingImageError:
        assert expected is None
    else:
        assert data["BuildVersion"] == expected
