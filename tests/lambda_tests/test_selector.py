"""Selector parsing, matching and numeric ordering, including property-based tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from image_lookup.errors import InvalidInputError
from image_lookup.models import ImageVersionRef, LookupRequest
from image_lookup.ranking import rank_candidates
from image_lookup.versions import (
    MAX_NODE,
    SemVer,
    parse_build_version,
    parse_selector,
    parse_version,
)

nodes = st.integers(min_value=0, max_value=MAX_NODE)
versions = st.tuples(nodes, nodes, nodes)


def format_version(version: SemVer) -> str:
    return ".".join(str(node) for node in version)


def ref(text: str) -> ImageVersionRef:
    version = parse_version(text)
    assert version is not None
    return ImageVersionRef(arn=f"arn:{text}", name="golden", version=version, version_text=text)


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("x.x.x", ()),
        ("1.x.x", (1,)),
        ("1.2.x", (1, 2)),
        ("1.2.3", (1, 2, 3)),
        ("0.0.0", (0, 0, 0)),
        # leading zeros are the service's own text (AWS CLI list-images: 2019.12.03)
        ("01.x.x", (1,)),
        ("2019.12.03", (2019, 12, 3)),
    ],
)
def test_valid_selectors(text: str, fixed: tuple[int, ...]) -> None:
    assert parse_selector(text).fixed == fixed


@pytest.mark.parametrize(
    "text",
    [
        "1.x.3",  # wildcard not only to the right
        "x.1.x",
        "x.x.1",
        "1.2",  # too few nodes
        "1.2.3.4",  # too many
        "1.X.x",  # uppercase wildcard
        "v1.2.3",  # prefix
        "1.2.-1",
        "1073741824.x.x",  # above 2**30 - 1
        "99999999999.x.x",
        "",
        " 1.2.3",
        "1.2.3 ",
        "*.*.*",
        "latest",
        "1..3",
        "\uff11.x.x",  # full-width digit one
    ],
)
def test_invalid_selectors_name_the_value(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_selector(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("value", [None, 123, ["1.x.x"], b"1.x.x"])
def test_non_string_selectors(value: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_selector(value)  # type: ignore[arg-type]


@given(version=versions, fixed_count=st.integers(min_value=0, max_value=3))
def test_a_selector_built_from_a_version_matches_it(
    version: tuple[int, int, int], fixed_count: int
) -> None:
    text = ".".join([str(n) for n in version[:fixed_count]] + ["x"] * (3 - fixed_count))
    selector = parse_selector(text)
    assert selector.matches(version)
    assert selector.text == text


@given(version=versions, other=versions, fixed_count=st.integers(min_value=0, max_value=3))
def test_matching_agrees_with_node_by_node_comparison(
    version: tuple[int, int, int], other: tuple[int, int, int], fixed_count: int
) -> None:
    text = ".".join([str(n) for n in version[:fixed_count]] + ["x"] * (3 - fixed_count))
    pairs = zip(text.split("."), other, strict=True)
    expected = all(node == "x" or int(node) == have for node, have in pairs)
    assert parse_selector(text).matches(other) == expected


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_invalid_input(text: str) -> None:
    try:
        selector = parse_selector(text)
    except InvalidInputError as error:
        assert "\n" not in str(error)
    else:
        assert selector.text == text


@given(version=versions, build=st.integers(min_value=1, max_value=10**6))
def test_versions_round_trip(version: tuple[int, int, int], build: int) -> None:
    text = format_version(version)
    assert parse_version(text) == version
    assert parse_build_version(f"{text}/{build}") == (version, build)


@pytest.mark.parametrize("text", ["1.2", "1.2.3/", "a.b.c", "1.2.3/x", None, 1, "1073741824.0.0"])
def test_unparsable_versions_are_none(text: object) -> None:
    assert parse_version(text) is None
    assert parse_build_version(text) is None


@given(st.lists(versions, max_size=60))
def test_ranking_is_numeric_descending_and_deduplicated(listed: list[tuple[int, int, int]]) -> None:
    request = LookupRequest(image_name="golden", selector=parse_selector("x.x.x"))
    refs = [ref(format_version(v)) for v in listed]
    ranked = [ref.version_text for ref in rank_candidates(refs, request).matching]
    # oracle: sort the texts by their integer nodes
    expected = sorted(
        {format_version(v) for v in listed},
        key=lambda text: [int(n) for n in text.split(".")],
        reverse=True,
    )
    assert ranked == expected


def test_numeric_not_lexical_order() -> None:
    request = LookupRequest(image_name="golden", selector=parse_selector("1.x.x"))
    refs = [ref(v) for v in ("1.9.0", "1.10.0", "1.2.0", "2.0.0")]
    assert [r.version_text for r in rank_candidates(refs, request).matching] == [
        "1.10.0",
        "1.9.0",
        "1.2.0",
    ]


def test_versions_keep_the_service_text_and_compare_as_numbers() -> None:
    request = LookupRequest(image_name="golden", selector=parse_selector("2019.12.03"))
    ranked = rank_candidates([ref("2019.12.03"), ref("2019.12.2"), ref("2019.2.30")], request)
    assert [r.version_text for r in ranked.matching] == ["2019.12.03"]
    assert ranked.seen_versions == ("2019.12.03", "2019.12.2", "2019.2.30")
