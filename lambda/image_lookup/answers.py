"""Read the service's answers into models, skipping entries that are malformed.

Fields are read defensively: a missing, null or mistyped field makes that entry
unusable (None) or leaves an output empty, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from image_lookup.models import AmiOutput, ContainerOutput, ImageBuild, ImageVersionRef
from image_lookup.versions import parse_build_version, parse_version


def version_ref(item: Mapping[str, Any]) -> ImageVersionRef | None:
    """A ListImages entry as ImageVersionRef, or None when it is unusable."""
    arn, name, version_text = _text(item.get("arn")), _text(item.get("name")), item.get("version")
    version = parse_version(version_text)
    if not arn or not name or version is None:
        return None
    return ImageVersionRef(
        arn=arn,
        name=name,
        version=version,
        version_text=_text(version_text),
        image_type=_text(item.get("type")),
        platform=_text(item.get("platform")),
        os_version=_text(item.get("osVersion")),
    )


def image_build(item: Mapping[str, Any]) -> ImageBuild | None:
    """A GetImage image or a ListImageBuildVersions summary as ImageBuild, or None."""
    arn, name, version_text = _text(item.get("arn")), _text(item.get("name")), item.get("version")
    parsed = parse_build_version(version_text)
    if not arn or not name or parsed is None:
        return None
    state = item.get("state")
    outputs = item.get("outputResources")
    outputs = outputs if isinstance(outputs, Mapping) else {}
    return ImageBuild(
        arn=arn,
        name=name,
        version=parsed[0],
        build_number=parsed[1],
        state=_text(state.get("status")) if isinstance(state, Mapping) else "",
        build_version_text=_text(version_text),
        image_type=_text(item.get("type")),
        platform=_text(item.get("platform")),
        os_version=_text(item.get("osVersion")),
        date_created=_text(item.get("dateCreated")),
        amis=tuple(
            AmiOutput(
                region=_text(ami.get("region")),
                image_id=_text(ami.get("image")),
                account_id=_text(ami.get("accountId")),
            )
            for ami in _mappings(outputs.get("amis"))
        ),
        containers=tuple(
            ContainerOutput(
                region=_text(container.get("region")),
                image_uris=tuple(_strings(container.get("imageUris"))),
            )
            for container in _mappings(outputs.get("containers"))
        ),
        tags=_tags(item.get("tags")),
    )


def _tags(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        return ()
    return tuple((k, v) for k, v in value.items() if isinstance(k, str) and isinstance(v, str))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mappings(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, str) and item)
