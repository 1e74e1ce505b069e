"""The custom resource's ``Data``: flat, all strings, small whatever the image carries."""

from __future__ import annotations

from image_lookup.ami_choice import choose_ami
from image_lookup.contract import ATTRIBUTE_KEYS, Attribute
from image_lookup.models import ImageBuild, ImageVersionRef, arn_account

#: Longest single value returned; the whole response must stay under 4 KB.
MAX_VALUE_LENGTH = 512


def build_attributes(
    build: ImageBuild,
    deploy_region: str,
    account_id: str | None = None,
    listed: ImageVersionRef | None = None,
) -> dict[str, str]:
    """Every ``Data`` key, as strings (empty where not applicable).

    Versions are the service's own text (``2019.12.03``), never re-formatted. Where
    the build leaves a field out, the listing's value (``listed``) stands in.
    """
    ami = choose_ami(build.amis, deploy_region, account_id, arn_account(build.arn))
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
        Attribute.IMAGE_BUILD_VERSION_ARN: build.arn,
        Attribute.IMAGE_VERSION_ARN: build.version_arn,
        Attribute.IMAGE_NAME: build.name,
        Attribute.VERSION: build.version_text,
        Attribute.BUILD_VERSION: build.build_version_text,
        Attribute.AMI_ID: ami.image_id if ami else "",
        Attribute.CONTAINER_IMAGE_URI: container_uri,
        Attribute.PLATFORM: build.platform or (listed.platform if listed else ""),
        Attribute.OS_VERSION: build.os_version or (listed.os_version if listed else ""),
        Attribute.IMAGE_TYPE: build.image_type or (listed.image_type if listed else ""),
        Attribute.DATE_CREATED: build.date_created,
    }
    return {key: values[key][:MAX_VALUE_LENGTH] for key in ATTRIBUTE_KEYS}


def attributes_from_arn(build_arn: str) -> dict[str, str]:
    """Every ``Data`` key, from a build ARN alone (``.../image/<name>/1.2.3/4``).

    For a build that can no longer be read: its ARN, version ARN, name (the ARN's
    form), version and build version; the rest empty.
    """
    version_arn, _, build_number = build_arn.rpartition("/")
    name_and_version = build_arn.split(":image/", 1)[1] if ":image/" in build_arn else ""
    name, _, version = name_and_version.partition("/")
    version = version.partition("/")[0]
    values = dict.fromkeys(ATTRIBUTE_KEYS, "")
    values.update(
        {
            Attribute.IMAGE_BUILD_VERSION_ARN: build_arn,
            Attribute.IMAGE_VERSION_ARN: version_arn if build_number else "",
            Attribute.IMAGE_NAME: name,
            Attribute.VERSION: version,
            Attribute.BUILD_VERSION: f"{version}/{build_number}" if version else "",
        }
    )
    return {key: values[key][:MAX_VALUE_LENGTH] for key in ATTRIBUTE_KEYS}
