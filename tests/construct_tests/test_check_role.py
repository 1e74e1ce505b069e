"""``CheckReadRole``: the role ``check --accounts`` assumes, in the synthesized template.

Held (README "check", issue 21 §3): its name is the command's default ``--role-name``; it
trusts the given account or principal only; it grants exactly the reads ``check`` makes
(``CHECK_READ_ACTIONS``, which ``test_check_fleet`` holds to README's CI policy and
``test_check`` to the calls made), nothing that writes; cdk-nag and cfn-lint find nothing
unacknowledged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from constructs_lib import CheckReadRole
from constructs_lib.check_role import CHECK_ROLE_NAME
from latest_image_build_cli.check_access import CHECK_READ_ACTIONS
from tests.support.synth import cdk_json_context

CI_ACCOUNT = "111122223333"
REGION = "us-east-1"


def synth(tmp_path: Path, **props: Any) -> dict[str, Any]:
    app = cdk.App(outdir=str(tmp_path), context=cdk_json_context())
    stack = cdk.Stack(app, "Workload", env=cdk.Environment(account="444455556666", region=REGION))
    CheckReadRole(stack, "CheckRead", **props)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # cdk-nag raises on an unacknowledged finding
    resources: dict[str, Any] = json.loads((tmp_path / "Workload.template.json").read_text())[
        "Resources"
    ]
    return resources


def of_type(resources: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [resource["Properties"] for resource in resources.values() if resource["Type"] == kind]


def test_trusts_the_account_and_grants_exactly_the_checks_reads(tmp_path: Path) -> None:
    resources = synth(tmp_path, trusted=CI_ACCOUNT)
    (role,) = of_type(resources, "AWS::IAM::Role")
    assert role["RoleName"] == CHECK_ROLE_NAME == "LatestImageBuildCheckRead"
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    principal = json.dumps(trust["Principal"])
    assert f":iam::{CI_ACCOUNT}:root" in principal
    (policy,) = of_type(resources, "AWS::IAM::Policy")
    statements = policy["PolicyDocument"]["Statement"]
    granted = {
        statement["Sid"]: sorted(
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
        for statement in statements
    }
    assert granted == {sid: sorted(actions) for sid, actions in CHECK_READ_ACTIONS.items()}
    assert all(s["Effect"] == "Allow" and s["Resource"] == "*" for s in statements)
    matches = lint_file(tmp_path / "Workload.template.json", config=ManualArgs(regions=[REGION]))
    assert [str(match) for match in matches] == []


def test_a_principal_and_another_name(tmp_path: Path) -> None:
    ci = iam.ArnPrincipal(f"arn:aws:iam::{CI_ACCOUNT}:role/ci")
    resources = synth(tmp_path, trusted=ci, role_name="Reader")
    (role,) = of_type(resources, "AWS::IAM::Role")
    assert role["RoleName"] == "Reader"
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{CI_ACCOUNT}:role/ci"}


def test_an_invalid_account_is_refused_naming_it() -> None:
    stack = cdk.Stack(cdk.App(context=cdk_json_context()), "S")
    with pytest.raises(ValueError, match=r"invalid account id '1234'"):
        CheckReadRole(stack, "CheckRead", trusted="1234")
