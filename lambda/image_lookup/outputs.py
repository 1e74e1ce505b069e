"""The custom resource's ``Data``: flat, all strings, small whatever the image carries."""

from __future__ import annotations

from image_lookup.models import AmiOutput, ImageBuild, ImageVersionRef

#: Longest single value returned; the whole response must stay under 4 KB.
MAX_VALUE_LENGTH = 512

DATA_KEYS = (
    "ImageBuildVersionArn",
    "ImageVersionArn",
    "ImageName",
    "Version",
    "BuildVersion",
    "AmiId",
    "ContainerImageUri",
    "Platform",
    "OsVersion",
    "ImageType",
    "DateCreated",
)


def build_attributes(
    build: ImageBuild,
    version: ImageVersionRef,
    deploy_region: str,
    account_id: str | None = None,
) -> dict[str, str]:
    """Every ``Data`` key, as strings (empty where not applicable)."""
    ami = _ami_for(build, deploy_region, account_id)
    container_uri = next(
        (
            uri
            for container in build.containers
            if container.region == deploy_region
            for uri in container.image_uris
        ),
        "",
    )
    values = {
        "ImageBuildVersionArn": build.arn,
        "ImageVersionArn": version.arn,
        "ImageName": build.name,
        "Version": version.version_text,
        "BuildVersion": build.build_version_text,
        "AmiId": ami.image_id if ami else "",
        "ContainerImageUri": container_uri,
        "Platform": build.platform or version.platform,
        "OsVersion": build.os_version or version.os_version,
        "ImageType": build.image_type or version.image_type,
        "DateCreated": build.date_created,
    }
    return {key: values[key][:MAX_VALUE_LENGTH] for key in DATA_KEYS}


def _ami_for(build: ImageBuild, region: str, account_id: str | None) -> AmiOutput | None:
    """The AMI in ``region``: the one in this account when a build was shared to several."""
    in_region = [ami for ami in build.amis if ami.region == region and ami.image_id]
    own = [ami for ami in in_region if account_id and ami.account_id == account_id]
    candidates = own or in_region
    return candidates[0] if candidates else None
