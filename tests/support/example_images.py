"""The Image Builder catalogue the example apps pin from, for the local endpoint.

``example/latest-image-build.lock.json`` was written by ``latest-image-build lock``
against exactly this catalogue (``tests/cli_tests/test_lock_example.py`` checks that it
still is). AMI ids and dates are fixed so the lock is the same on every run.
"""

from __future__ import annotations

from local_endpoints.imagebuilder import ACCOUNT, REGION, FakeImageBuilder, FakeImageVersion

AMAZON_BASE = "Amazon Linux 2023 x86"
GOLDEN = "golden-al2023"


def ami(image_id: str, account: str = ACCOUNT) -> dict[str, object]:
    """One AMI output of a build, as GetImage reports it (``outputResources.amis``)."""
    return {
        "region": REGION,
        "image": image_id,
        "accountId": account,
        "state": {"status": "AVAILABLE"},
    }


def add_build(
    fake: FakeImageBuilder,
    name: str,
    version: str,
    image_id: str,
    created: str,
    *,
    owner: str = "Self",
    platform: str = "Linux",
) -> FakeImageVersion:
    """A version with one AVAILABLE build that has ``image_id`` in the fake's region."""
    image = fake.add(name, version, owner=owner, platform=platform)
    build = image.builds[0]
    build.amis = [ami(image_id)]
    build.date_created = created
    return image


def seed_example_images(fake: FakeImageBuilder) -> None:
    """Amazon's base image (two versions) and the team's golden image (1.x and a 2.0)."""
    add_build(
        fake,
        AMAZON_BASE,
        "2026.10.28",
        "ami-0b5e1c2a3d4f50617",
        "2026-10-28T09:12:44.000Z",
        owner="Amazon",
    )
    add_build(
        fake,
        AMAZON_BASE,
        "2026.11.14",
        "ami-0c6f2d3b4e5a61728",
        "2026-11-14T08:40:02.000Z",
        owner="Amazon",
    )
    add_build(fake, GOLDEN, "1.3.0", "ami-0d7a3e4c5f6b72839", "2026-11-02T14:03:19.000Z")
    add_build(fake, GOLDEN, "1.4.0", "ami-0e8b4f5d6a7c8394a", "2026-11-18T10:27:51.000Z")
    add_build(fake, GOLDEN, "2.0.0", "ami-0f9c5a6e7b8d9405b", "2026-11-20T16:55:08.000Z")
