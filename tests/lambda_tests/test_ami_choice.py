"""Which AMI a stack pins when a build was distributed to several accounts and regions.

The outputResources below are shaped as the Image Builder API reference describes GetImage's
answer: ``image.outputResources.amis[]`` of ``Ami`` objects (``region``, ``image``, ``name``,
``description``, ``state``, ``accountId``: "the account ID of the owner of the AMI"), "one entry
per AMI, including copies that distribution created in each target AWS Region and account"
(``OutputResources``); the envelope (``requestId``, ``image.arn``, ``version``, ``state``) is that
of the AWS CLI's ``get-image`` example. A distribution configuration makes such a list with
``amiDistributionConfiguration.targetAccountIds`` (copies owned by each target account) and
``launchPermission`` (the owner's AMI, shared). Held: the stack's own account's copy, else the
image owner's (shared by launch permission), never a third account's copy (issue 21 §1, issue 20
§6; README "check").
"""

from __future__ import annotations

from typing import Any

import pytest

from image_lookup.ami_choice import choose_ami, is_account_id
from image_lookup.answers import image_build
from image_lookup.models import ImageBuild
from image_lookup.outputs import build_attributes
from local_endpoints.imagebuilder import FakeImageBuilder

FACTORY = "111122223333"  # builds the image and owns its ARN
WORKLOAD = "444455556666"  # a target account of the distribution: has its own copies
SHARED_ONLY = "777788889999"  # shared by launch permission only: no copy of its own
STRANGER = "999988887777"  # another target account: its copies are private to it
ARN = f"arn:aws:imagebuilder:us-east-1:{FACTORY}:image/golden-al2023/1.4.0/3"


def ami(region: str, image_id: str, account: str | None) -> dict[str, Any]:
    """One ``Ami`` of outputResources.amis, as the API reference lists its fields."""
    entry: dict[str, Any] = {
        "region": region,
        "image": image_id,
        "name": "golden-al2023 2026-11-14T08-40-02.000Z",
        "description": "Golden AL2023, built by the image factory",
        "state": {"status": "AVAILABLE"},
    }
    if account is not None:
        entry["accountId"] = account
    return entry


def get_image_answer(*amis: dict[str, Any], arn: str = ARN) -> dict[str, Any]:
    """A GetImage answer with these AMIs."""
    return {
        "requestId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
        "image": {
            "arn": arn,
            "type": "AMI",
            "name": "golden-al2023",
            "version": "1.4.0/3",
            "platform": "Linux",
            "state": {"status": "AVAILABLE"},
            "dateCreated": "2026-11-14T08:40:02.000Z",
            "outputResources": {"amis": list(amis), "containers": []},
            "tags": {},
        },
    }


def read(answer: dict[str, Any]) -> ImageBuild:
    build = image_build(answer["image"])
    assert build is not None
    return build


#: Distributed to two regions; in each, the factory's AMI (shared by launch permission with
#: the organization) and copies owned by two target accounts. Listing order puts the
#: stranger's copy first in every region, so "first in the region" is never the answer.
DISTRIBUTED = get_image_answer(
    ami("us-east-1", "ami-0e1000000000000e1", STRANGER),
    ami("us-east-1", "ami-0a1000000000000a1", FACTORY),
    ami("us-east-1", "ami-0b1000000000000b1", WORKLOAD),
    ami("eu-west-1", "ami-0e2000000000000e2", STRANGER),
    ami("eu-west-1", "ami-0b2000000000000b2", WORKLOAD),
    ami("eu-west-1", "ami-0a2000000000000a2", FACTORY),
    ami("ap-southeast-2", "ami-0e3000000000000e3", STRANGER),
)


@pytest.mark.parametrize(
    ("account", "region", "expected"),
    [
        (WORKLOAD, "us-east-1", "ami-0b1000000000000b1"),  # its own copy
        (WORKLOAD, "eu-west-1", "ami-0b2000000000000b2"),
        (SHARED_ONLY, "us-east-1", "ami-0a1000000000000a1"),  # the owner's, shared
        (SHARED_ONLY, "eu-west-1", "ami-0a2000000000000a2"),
        (FACTORY, "eu-west-1", "ami-0a2000000000000a2"),  # the owner itself
        (SHARED_ONLY, "ap-southeast-2", ""),  # only a stranger's copy there: none
        (WORKLOAD, "ap-southeast-2", ""),
        (WORKLOAD, "us-west-2", ""),  # not distributed there
        (STRANGER, "ap-southeast-2", "ami-0e3000000000000e3"),  # its own copy
    ],
)
def test_own_copy_else_owners_never_a_third_accounts(
    account: str, region: str, expected: str
) -> None:
    build = read(DISTRIBUTED)
    chosen = choose_ami(build.amis, region, account, FACTORY)
    assert (chosen.image_id if chosen else "") == expected
    # the custom resource's AmiId and check's pinned AMI use the same rule
    assert build_attributes(build, region, account)["AmiId"] == expected


def test_unknown_own_account_takes_the_owners_ami() -> None:
    """The handler could not read its account (no StackId ARN): the owner's AMI, never a copy."""
    build = read(DISTRIBUTED)
    assert build_attributes(build, "us-east-1", None)["AmiId"] == "ami-0a1000000000000a1"


def test_an_entry_without_account_is_the_owners() -> None:
    build = read(
        get_image_answer(
            ami("us-east-1", "ami-0e1000000000000e1", STRANGER),
            ami("us-east-1", "ami-0a1000000000000a1", None),
        )
    )
    assert build_attributes(build, "us-east-1", SHARED_ONLY)["AmiId"] == "ami-0a1000000000000a1"


def test_images_aws_publishes_keep_their_amis_in_aws_accounts() -> None:
    """Amazon's images: ARN account ``aws``, AMIs owned by an AWS account the ARN does not name."""
    amazon = "arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2023-x86/2026.11.14/1"
    build = read(
        get_image_answer(
            ami("eu-west-1", "ami-0c2000000000000c2", "137112412989"),
            ami("us-east-1", "ami-0c1000000000000c1", "137112412989"),
            arn=amazon,
        )
    )
    assert build_attributes(build, "us-east-1", WORKLOAD)["AmiId"] == "ami-0c1000000000000c1"
    assert not is_account_id("aws") and is_account_id(FACTORY)


def test_a_shared_lookup_pins_the_workload_accounts_copy(
    fake: FakeImageBuilder, invoke: Any
) -> None:
    """End to end through the handler: the event's StackId names the stack's account."""
    image = fake.add("golden-al2023", "1.4.0", owner="Shared", owner_account=FACTORY)
    image.builds[0].amis = DISTRIBUTED["image"]["outputResources"]["amis"]
    result = invoke(ImageName="golden-al2023", Owner="Shared", ImageAccount=FACTORY)
    stack_account = "123456789012"  # the account of the event files' StackId
    assert stack_account not in (FACTORY, WORKLOAD, STRANGER)
    assert result["Data"]["AmiId"] == "ami-0a1000000000000a1"  # the factory's, shared
    image.builds[0].amis = [
        *DISTRIBUTED["image"]["outputResources"]["amis"],
        ami("us-east-1", "ami-0d1000000000000d1", stack_account),
    ]
    result = invoke(ImageName="golden-al2023", Owner="Shared", ImageAccount=FACTORY)
    assert result["Data"]["AmiId"] == "ami-0d1000000000000d1"  # its own copy
