"""What ``check`` needs in each account it reads: the role it assumes and the reads it makes.

Standard library only: ``constructs_lib.check_role`` builds the role from these, so the
role the library provides grants exactly what the command calls.
"""

from __future__ import annotations

#: The role ``check --accounts/--organization`` assumes in each account unless
#: ``--role-name`` names another; ``constructs_lib.CheckReadRole`` creates it by this name.
CHECK_ROLE_NAME = "LatestImageBuildCheckRead"
#: The session name of the assumed role, as CloudTrail shows it.
ROLE_SESSION_NAME = "latest-image-build-check"
#: Every read ``check`` makes in an account, by service (``cloudformation:ListStacks`` for
#: ``--all`` and the fleet options only; ``ec2:DescribeImages`` for AMI-type pins).
CHECK_READ_ACTIONS: dict[str, tuple[str, ...]] = {
    "ReadStacks": (
        "cloudformation:DescribeStacks",
        "cloudformation:GetTemplate",
        "cloudformation:ListStackResources",
        "cloudformation:ListStacks",
    ),
    "ReadImages": (
        "imagebuilder:GetImage",
        "imagebuilder:ListImages",
        "imagebuilder:ListImageBuildVersions",
    ),
    "ReadAmis": ("ec2:DescribeImages",),
}
