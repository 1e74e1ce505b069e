"""Which of a build's AMIs a stack in one account and region can launch.

A build's ``outputResources.amis`` lists "one entry per AMI, including copies that
distribution created in each target AWS Region and account" (Image Builder API reference,
``OutputResources``), each with the ``accountId`` that owns it (``Ami``). A distribution
configuration copies the AMI into ``targetAccountIds`` and/or shares the owner's AMI by
``launchPermission`` (``AmiDistributionConfiguration``). So in one region a build may list
the owner's AMI and copies owned by other accounts; only two of them can be launched by the
stack's account: its own copy, and the owner's AMI when it is shared by launch permission.
A third account's copy is private to that account, and is never the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from image_lookup.models import AmiOutput

_ACCOUNT_ID = re.compile(r"\d{12}")


def is_account_id(text: str) -> bool:
    """True for a 12-digit AWS account id (not ``aws``, ``aws-marketplace``...)."""
    return bool(_ACCOUNT_ID.fullmatch(text))


def choose_ami(
    amis: Iterable[AmiOutput], region: str, own_account: str | None, image_owner: str
) -> AmiOutput | None:
    """The AMI in ``region`` that ``own_account`` launches, or None.

    Its own copy first; else the image owner's AMI (``image_owner``, the account of the
    build's ARN). An entry without ``accountId`` is read as the owner's (the service names
    the account of the copies it distributes). Images AWS publishes (ARN account ``aws``
    and the like, not an account id) keep their AMIs in AWS's own accounts, which the ARN
    does not name: any of their AMIs in the region is the owner's. Among several that
    qualify, the first listed wins.
    """
    in_region = [ami for ami in amis if ami.region == region and ami.image_id]
    if own_account:
        own = [ami for ami in in_region if ami.account_id == own_account]
        if own:
            return own[0]
    if is_account_id(image_owner):
        owners = [ami for ami in in_region if ami.account_id in ("", image_owner)]
    else:
        owners = in_region
    return owners[0] if owners else None
