"""Pure selection rules: exact names, filters, and which build of a version wins."""

from __future__ import annotations

from datetime import datetime, timezone

from image_lookup.contract import ImageType
from image_lookup.models import ImageBuild, ImageFilters, ImageVersionRef, LookupRequest
from image_lookup.ranking import pick, rank_candidates, summarize_versions
from image_lookup.versions import parse_selector

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def pick_build(
    builds: list[ImageBuild], request: LookupRequest, version: tuple[int, int, int]
) -> ImageBuild | None:
    """The winner ``pick`` chooses, ungated requests being independent of the clock."""
    return pick(builds, request, version, NOW).build


def request(**kwargs: object) -> LookupRequest:
    return LookupRequest(image_name="golden", selector=parse_selector("x.x.x"), **kwargs)  # type: ignore[arg-type]


def build(
    number: int, state: str, name: str = "golden", version: tuple[int, int, int] = (1, 0, 0)
) -> ImageBuild:
    text = ".".join(map(str, version))
    return ImageBuild(
        arn=f"arn/{text}/{number}",
        name=name,
        version=version,
        build_number=number,
        state=state,
        build_version_text=f"{text}/{number}",
    )


def test_newest_available_build_wins() -> None:
    builds = [
        build(1, "AVAILABLE"),
        build(3, "AVAILABLE"),
        build(4, "FAILED"),
        build(2, "AVAILABLE"),
    ]
    assert pick_build(builds, request(), (1, 0, 0)) == builds[1]


def test_deprecated_only_with_include_deprecated() -> None:
    builds = [build(1, "AVAILABLE"), build(2, "DEPRECATED")]
    assert pick_build(builds, request(), (1, 0, 0)) == builds[0]
    assert pick_build(builds, request(include_deprecated=True), (1, 0, 0)) == builds[1]


def test_unusable_states_and_mismatches_never_win() -> None:
    builds = [
        build(1, state)
        for state in ("FAILED", "CANCELLED", "BUILDING", "DISABLED", "DELETED", "", "QUANTUM")
    ] + [build(9, "AVAILABLE", name="other"), build(8, "AVAILABLE", version=(1, 0, 1))]
    assert pick_build(builds, request(include_deprecated=True), (1, 0, 0)) is None


def test_rank_keeps_exact_name_and_filters() -> None:
    refs = [
        ImageVersionRef("a", "golden", (1, 0, 0), "1.0.0", image_type="AMI", platform="Linux"),
        ImageVersionRef("b", "golden-arm", (9, 0, 0), "9.0.0"),
        ImageVersionRef("c", "golden", (2, 0, 0), "2.0.0", image_type="DOCKER"),
        ImageVersionRef("d", "golden", (3, 0, 0), "3.0.0", platform="Windows"),
        # fields left out by the service still count
        ImageVersionRef("e", "golden", (1, 5, 0), "1.5.0"),
    ]
    filters = ImageFilters(image_type=ImageType.AMI, platform="Linux")
    ranked = rank_candidates(refs, request(filters=filters))
    assert [r.arn for r in ranked.matching] == ["e", "a"]
    assert ranked.seen_versions == ("1.5.0", "1.0.0")


def test_both_forms_of_a_name_match_and_nothing_else() -> None:
    refs = [
        ImageVersionRef("a", "Amazon Linux 2023 x86", (1, 0, 0), "1.0.0"),
        ImageVersionRef("b", "Amazon Linux 2023 x86 minimal", (2, 0, 0), "2.0.0"),
        ImageVersionRef("c", "amazon_linux_2023_x86", (3, 0, 0), "3.0.0"),
    ]
    for name in ("Amazon Linux 2023 x86", "amazon-linux-2023-x86"):
        ranked = rank_candidates(refs, request()._replace(image_name=name))
        assert [r.arn for r in ranked.matching] == ["a"]


def test_summaries_are_bounded() -> None:
    versions = [f"1.{minor}.0" for minor in range(5000, 0, -1)]
    text = summarize_versions(versions)
    assert text.startswith("1.5000.0, 1.4999.0")
    assert text.endswith("and 4988 more")
    assert len(text) < 200
    assert summarize_versions([]) == "none"
