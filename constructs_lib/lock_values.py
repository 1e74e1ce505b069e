"""The values of a lock entry, checked as a deploy's answer would be before it reaches a template.

A lock file is committed text that anyone can edit; its values become template literals.
So each pinned value must have the shape the service gives it, for the entry's own image,
partition and region: the build ARN (``arn:<partition>:imagebuilder:<region>:<account>:image/
<name>/<x.y.z>/<n>``, the pattern of botocore's ``ImageBuildVersionArn``), the version ARN,
versions, an ``ami-`` id, an ECR URI in the stack's region, the Platform and ImageType enums.
A CloudFormation dynamic reference (``{{resolve:ssm:...}}``: resolved by CloudFormation at
deploy, so the AMI could change with no change to the lock file) or CDK token text
(``${Token[...]}``: resolved by CDK, or a crash) is refused anywhere in an entry.

Standard library and the Lambda asset's pure modules only: the command line imports it
without the CDK.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from image_lookup.contract import (
    IMAGE_ACCOUNT,
    IMAGE_NAME,
    IMAGE_TYPE,
    OS_VERSION,
    OWNER,
    PLATFORM,
    REGION,
    REQUIRE_AMI,
    REQUIRE_CONTAINER,
    VERSION_SELECTOR,
    Attribute,
    ImageType,
    owner_account,
)
from image_lookup.errors import InvalidInputError, show_value
from image_lookup.gates import parse_date_created
from image_lookup.models import arn_name
from image_lookup.properties import PLATFORMS, parse_owner, validate_region
from image_lookup.versions import parse_selector, parse_version

#: Partitions by region name, with their DNS suffix (botocore ``data/endpoints.json``:
#: ``regionRegex`` and ``dnsSuffix``), tried in this order.
_PARTITIONS = (
    ("aws", re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$"), "amazonaws.com"),
    ("aws-cn", re.compile(r"^cn-\w+-\d+$"), "amazonaws.com.cn"),
    ("aws-us-gov", re.compile(r"^us-gov-\w+-\d+$"), "amazonaws.com"),
    ("aws-iso", re.compile(r"^us-iso-\w+-\d+$"), "c2s.ic.gov"),
    ("aws-iso-b", re.compile(r"^us-isob-\w+-\d+$"), "sc2s.sgov.gov"),
    ("aws-iso-e", re.compile(r"^eu-isoe-\w+-\d+$"), "cloud.adc-e.uk"),
    ("aws-iso-f", re.compile(r"^us-isof-\w+-\d+$"), "csp.hci.ic.gov"),
    ("aws-eusc", re.compile(r"^eusc-(de)-\w+-\d+$"), "amazonaws.eu"),
)
#: botocore's ImageBuildVersionArn pattern, with its parts named.
_BUILD_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):imagebuilder:(?P<region>[a-z0-9-]+):"
    r"(?P<account>[0-9]{12}|aws(?:-[a-z-]+)?):image/(?P<name>[a-z0-9_-]+)/"
    r"(?P<version>[0-9]+\.[0-9]+\.[0-9]+)/(?P<build>[0-9]+)$"
)
#: EC2 image ids: ``ami-`` and 8 (older) or 17 hexadecimal digits.
_AMI_ID = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
#: An ECR image URI: ``<account>.dkr.ecr[-fips].<region>.<suffix>/<repository>`` and a tag
#: (ECR's ImageTag: up to 300 characters) or a digest. Repository names: ECR's pattern.
_ECR_URI = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.(?P<suffix>[a-z0-9.-]+)"
    r"/(?P<repository>(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*)"
    r"(?::[A-Za-z0-9_.-]{1,300}|@sha256:[0-9a-f]{64})$"
)
_DYNAMIC_REFERENCE = "{{resolve:"
_TOKEN_MARKS = ("${Token[", "#{Token[")
_LONGEST_TEXT = 512


def partition_of(region: str) -> tuple[str, str] | None:
    """``(partition, DNS suffix)`` of a region name, or None for a region botocore does not
    place (a partition newer than this table: then nothing depends on it)."""
    for partition, pattern, suffix in _PARTITIONS:
        if pattern.match(region):
            return partition, suffix
    return None


def entry_problem(query: Mapping[str, Any], region: str, pin: Mapping[str, str]) -> str | None:
    """Why an entry's values cannot be a deploy's answer, in a phrase naming the key and the
    value (``AmiId '{{resolve:ssm:/ami}}' is a CloudFormation dynamic reference ...``), or
    None. ``region``: the stack's, where the pin's AMI and container image must be."""
    for key, value in _texts(query, pin):
        problem = _dynamic(value)
        if problem is not None:
            return f"{key} {show_value(value)} is {problem}"
    for key, check in _CHECKS:
        value = pin[key]
        why = check(value, query, region, pin)
        if why is not None:
            return f"{key} {show_value(value)} is {why}"
    return None


def _texts(query: Mapping[str, Any], pin: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """Every text of the entry, with the key that names it."""
    for key, value in query.items():
        if isinstance(value, Mapping):
            for item_key, item in value.items():
                yield key, str(item_key)
                yield f"{key}[{item_key!r}]", str(item)
        else:
            yield key, str(value)
    yield from pin.items()


def _dynamic(value: str) -> str | None:
    if _DYNAMIC_REFERENCE in value.replace(" ", "").lower():
        return (
            "a CloudFormation dynamic reference: CloudFormation would resolve it at deploy, "
            "so the pin could change with no change to the lock file"
        )
    if any(mark in value for mark in _TOKEN_MARKS):
        return "CDK token text: a lock file holds the literal values a deploy would pin"
    return None


def _parts(pin: Mapping[str, str]) -> re.Match[str] | None:
    return _BUILD_ARN.match(pin[Attribute.IMAGE_BUILD_VERSION_ARN])


def _image_region(query: Mapping[str, Any], region: str) -> str:
    """Where the image lives: the query's Region, else the stack's."""
    return str(query.get(REGION.key) or region)


def _build_arn(
    value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
) -> str | None:
    parts = _BUILD_ARN.match(value)
    if parts is None:
        return (
            "not an Image Builder build ARN "
            "(arn:<partition>:imagebuilder:<region>:<account>:image/<name>/<x.y.z>/<n>)"
        )
    image_region = _image_region(query, region)
    placed = partition_of(image_region)
    if placed is not None and parts["partition"] != placed[0]:
        return f"not in partition {placed[0]}, the partition of region {image_region}"
    if parts["region"] != image_region:
        return f"not in region {image_region}, where the image lives"
    name = str(query.get(IMAGE_NAME.key, ""))
    if parts["name"] != arn_name(name):
        return f"not a build of image {name!r} (its ARNs name it {arn_name(name)!r})"
    account = _expected_account(query)
    if account is not None and parts["account"] != account:
        return f"not a build of account {account!r}"
    try:
        selector = parse_selector(str(query.get(VERSION_SELECTOR.key, "x.x.x")))
    except InvalidInputError:
        return None  # the query itself is then stale, which the caller reports
    version = parse_version(parts["version"])
    if version is None or not selector.matches(version):
        return f"not a version that selector {selector.text!r} matches"
    return None


def _expected_account(query: Mapping[str, Any]) -> str | None:
    """The account in the image's ARNs when the query tells it (ImageAccount, Amazon's)."""
    try:
        owner = parse_owner(str(query.get(OWNER.key) or "Self")).value
    except InvalidInputError:
        return None
    image_account = query.get(IMAGE_ACCOUNT.key)
    return owner_account(owner, None, image_account if isinstance(image_account, str) else None)


def _version_arn(
    value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
) -> str | None:
    build_arn = pin[Attribute.IMAGE_BUILD_VERSION_ARN]
    if _parts(pin) is not None and value != build_arn.rpartition("/")[0]:
        return f"not the version ARN of build {build_arn}"
    return None


def _image_name(
    value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
) -> str | None:
    parts = _parts(pin)
    if parts is not None and arn_name(value) != parts["name"]:
        return f"not the name of image {parts['name']!r}"
    return None


def _version(
    value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
) -> str | None:
    parts = _parts(pin)
    if parts is not None and value != parts["version"]:
        return f"not the version of build {parts[0]}"
    return None


def _build_version(
    value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
) -> str | None:
    parts = _parts(pin)
    if parts is not None and value != f"{parts['version']}/{parts['build']}":
        return f"not the build version of build {parts[0]}"
    return None


def _ami_id(
    value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
) -> str | None:
    if not value:
        if query.get(REQUIRE_AMI.key) == "true":
            return f"empty, but the lookup needs an AMI in region {region}"
        return None
    if not _AMI_ID.match(value):
        return "not an AMI id (ami- and 8 or 17 hexadecimal digits)"
    return None


def _container_uri(
    value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
) -> str | None:
    if not value:
        if query.get(REQUIRE_CONTAINER.key) == "true":
            return f"empty, but the lookup needs a container image in region {region}"
        return None
    parts = _ECR_URI.match(value)
    if parts is None:
        return "not an ECR image URI (<account>.dkr.ecr.<region>.<domain>/<repository>:<tag>)"
    placed = partition_of(region)
    if parts["region"] != region or (placed is not None and parts["suffix"] != placed[1]):
        return f"not in region {region}, where the stack deploys"
    return None


def _enum(allowed: tuple[str, ...], prop_key: str) -> Any:
    def check(
        value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
    ) -> str | None:
        if value and value not in allowed:
            return f"not one of {', '.join(allowed)}"
        asked = query.get(prop_key)
        if value and isinstance(asked, str) and asked.casefold() != value.casefold():
            return f"not the {prop_key} {asked!r} the lookup asks for"
        return None

    return check


def _os_version(
    value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
) -> str | None:
    if len(value) > _LONGEST_TEXT or not value.isprintable():
        return f"not one line of at most {_LONGEST_TEXT} printable characters"
    asked = query.get(OS_VERSION.key)
    if value and isinstance(asked, str) and asked != value:
        return f"not the {OS_VERSION.key} {asked!r} the lookup asks for"
    return None


def _date_created(
    value: str, query: Mapping[str, Any], region: str, pin: Mapping[str, str]
) -> str | None:
    if value and parse_date_created(value) is None:
        return "not a date as the service reports it (ISO 8601)"
    return None


_CHECKS = (
    (Attribute.IMAGE_BUILD_VERSION_ARN, _build_arn),
    (Attribute.IMAGE_VERSION_ARN, _version_arn),
    (Attribute.IMAGE_NAME, _image_name),
    (Attribute.VERSION, _version),
    (Attribute.BUILD_VERSION, _build_version),
    (Attribute.AMI_ID, _ami_id),
    (Attribute.CONTAINER_IMAGE_URI, _container_uri),
    (Attribute.PLATFORM, _enum(PLATFORMS, PLATFORM.key)),
    (Attribute.OS_VERSION, _os_version),
    (Attribute.IMAGE_TYPE, _enum(tuple(kind.value for kind in ImageType), IMAGE_TYPE.key)),
    (Attribute.DATE_CREATED, _date_created),
)


def stack_problem(region: str, account: str | None) -> str | None:
    """Why an entry's ``stack`` is not a region and an account, or None."""
    for key, value in (("region", region), ("account", account or "")):
        problem = _dynamic(value)
        if problem is not None:
            return f"stack {key} {show_value(value)} is {problem}"
    try:
        validate_region(region)
    except InvalidInputError:
        return f"stack region {show_value(region)} is not a region name"
    if account is not None and not (len(account) == 12 and account.isdigit()):
        return f"stack account {show_value(account)} is not 12 digits"
    return None
