"""The factory's events across the organization, in the template: forwarding, bus policy, patterns.

What each test holds:

* ``ImageFactoryEvents`` forwards the factory account's own "EC2 Image Builder Image
  State Change" events (Image Builder User Guide, "Event messages that Image Builder
  sends") to each workload account's default bus, in each target region, and to a
  central bus; in rules of at most 5 targets (EventBridge quotas, "Targets per rule"),
  each target with an IAM role, which EventBridge requires when the receiving bus
  grants by organization (EventBridge API Reference, PutPermission: "accounts in that
  organization must specify a RoleArn with proper permissions when they use
  PutTarget"). Each role may put events on its own rule's buses only.
* ``ImageFactoryEventsPolicy``: the receiving bus's policy in EventBridge's "organization"
  form (User Guide, "Permissions for event buses": ``Principal`` ``*`` with
  ``aws:PrincipalOrgID``), optionally the factory account's principals only.
* ``on_newer_build()`` of a lookup of the factory's images (``owner=SHARED``,
  ``image_account``) listens for them on the workload bus, naming ``account`` so no
  one else's events match (PutPermission: a rule on a bus open to several accounts
  should name "an account field with a specific account ID").
* Every input is checked at synth, one line naming the bad value (README "Many accounts").

That the synthesized patterns match the service's events on a real bus: moto, in
``tests/e2e_tests/test_image_factory_events.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from constructs_lib import (
    ImageFactoryEvents,
    ImageFactoryEventsPolicy,
    ImageOwner,
    LatestImageBuild,
)
from tests.support.synth import cdk_json_context

pytestmark = pytest.mark.synth

FACTORY = "111122223333"
WORKLOADS = [f"2222333344{n:02d}" for n in range(6)]
ORGANIZATION = "o-a1b2c3d4e5"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
CENTRAL = "arn:aws:events:us-east-1:999988887777:event-bus/image-events"
STATE_CHANGE = "EC2 Image Builder Image State Change"


def build(app: cdk.App) -> None:
    """A factory forwarding to six accounts in two regions and a central bus; a workload."""
    factory_stack = cdk.Stack(app, "Factory", env=cdk.Environment(account=FACTORY, region=REGION))
    factory = ImageFactoryEvents(
        factory_stack,
        "Events",
        organization_id=ORGANIZATION,
        target_accounts=WORKLOADS,
        target_regions=[REGION, OTHER_REGION],
        central_bus_arn=CENTRAL,
    )
    workload = cdk.Stack(app, "Workload", env=cdk.Environment(account=WORKLOADS[0], region=REGION))
    factory.allow_in(workload, "FactoryEvents")
    LatestImageBuild(
        workload,
        "Golden",
        image_name="Golden AL2023",
        version="1.x.x",
        owner=ImageOwner.SHARED,
        image_account=FACTORY,
    ).on_newer_build("Newer")
    LatestImageBuild(
        workload,
        "Replicated",  # built in another region of the factory, deployed here
        image_name="golden",
        version="2.1.x",
        owner=ImageOwner.SHARED,
        image_account=FACTORY,
        region=OTHER_REGION,
    ).on_newer_build("Newer", schedule=None)
    LatestImageBuild(
        workload, "Unnamed", image_name="golden", owner=ImageOwner.SHARED
    ).on_newer_build("Newer")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


@pytest.fixture(scope="module")
def assembly_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("factory")
    app = cdk.App(outdir=str(outdir), context=cdk_json_context())
    build(app)
    app.synth()  # cdk-nag: raises on any unacknowledged finding
    return outdir


def template(assembly_dir: Path, stack: str) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = json.loads(
        (assembly_dir / f"{stack}.template.json").read_text()
    )["Resources"]
    return resources


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in resources.items() if value["Type"] == kind}


def bus(account: str, region: str = REGION) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/default"


def test_the_factory_forwards_its_own_available_builds(assembly_dir: Path) -> None:
    rules = of_type(template(assembly_dir, "Factory"), "AWS::Events::Rule")
    assert rules
    for rule in rules.values():
        assert rule["Properties"]["EventPattern"] == {
            "source": ["aws.imagebuilder"],
            "detail-type": [STATE_CHANGE],
            "account": [FACTORY],  # not events other accounts put on this bus
            "detail": {"state": {"status": ["AVAILABLE"]}},
        }
        assert rule["Properties"]["State"] == "ENABLED"


def test_every_account_and_region_and_the_central_bus_in_rules_of_five(
    assembly_dir: Path,
) -> None:
    rules = of_type(template(assembly_dir, "Factory"), "AWS::Events::Rule")
    per_rule = [[t["Arn"] for t in r["Properties"]["Targets"]] for r in rules.values()]
    assert [len(arns) for arns in per_rule] == [5, 5, 3]
    expected = [bus(a, r) for a in WORKLOADS for r in (REGION, OTHER_REGION)] + [CENTRAL]
    assert [arn for arns in per_rule for arn in arns] == expected


def test_each_target_has_a_role_that_may_put_events_on_its_rules_buses_only(
    assembly_dir: Path,
) -> None:
    resources = template(assembly_dir, "Factory")
    policies = of_type(resources, "AWS::IAM::Policy").values()
    for rule in of_type(resources, "AWS::Events::Rule").values():
        targets = rule["Properties"]["Targets"]
        (role_id,) = {target["RoleArn"]["Fn::GetAtt"][0] for target in targets}
        role = resources[role_id]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
            }
        ]
        (statements,) = [
            p["Properties"]["PolicyDocument"]["Statement"]
            for p in policies
            if p["Properties"]["Roles"] == [{"Ref": role_id}]
        ]
        granted = [
            (s["Action"], resource)
            for s in statements
            for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        ]
        assert sorted(granted) == sorted(("events:PutEvents", t["Arn"]) for t in targets)


def test_the_receiving_bus_allows_the_organizations_factory(assembly_dir: Path) -> None:
    (policy,) = of_type(template(assembly_dir, "Workload"), "AWS::Events::EventBusPolicy").values()
    properties = policy["Properties"]
    assert properties["EventBusName"] == "default"
    assert re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", properties["StatementId"])
    assert properties["Statement"] == {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{FACTORY}:root"},
        "Action": "events:PutEvents",
        "Resource": bus(WORKLOADS[0]),
        "Condition": {
            "StringEquals": {
                "aws:PrincipalOrgID": ORGANIZATION,
                "events:detail-type": STATE_CHANGE,
            },
            "ForAllValues:StringEquals": {"events:source": ["aws.imagebuilder"]},
        },
    }


def test_the_organization_wide_policy_and_another_bus() -> None:
    stack = cdk.Stack(
        cdk.App(context=cdk_json_context()),
        "Hub",
        env=cdk.Environment(account="999988887777", region=REGION),
    )
    ImageFactoryEventsPolicy(
        stack, "Open", organization_id=ORGANIZATION, event_bus_name="image-events"
    )
    (policy,) = of_type(
        cdk.assertions.Template.from_stack(stack).to_json()["Resources"],
        "AWS::Events::EventBusPolicy",
    ).values()
    assert policy["Properties"]["EventBusName"] == "image-events"
    assert policy["Properties"]["Statement"] == {
        "Effect": "Allow",
        "Principal": "*",  # any account of the organization
        "Action": "events:PutEvents",
        "Resource": CENTRAL,
        "Condition": {
            "StringEquals": {
                "aws:PrincipalOrgID": ORGANIZATION,
                "events:detail-type": STATE_CHANGE,
            },
            "ForAllValues:StringEquals": {"events:source": ["aws.imagebuilder"]},
        },
    }


def image_rules(resources: dict[str, dict[str, Any]], lookup: str) -> list[dict[str, Any]]:
    """The lookup's rules on Image Builder's events (the evaluator's triggers)."""
    return [
        r["Properties"]
        for r in of_type(resources, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.imagebuilder"]
        and f"Workload/{lookup}" in json.dumps(r["Properties"]["Targets"])
    ]


def test_a_lookup_of_the_factorys_image_hears_the_factorys_events_only(
    assembly_dir: Path,
) -> None:
    (rule,) = image_rules(template(assembly_dir, "Workload"), "Golden")
    assert rule["EventPattern"] == {
        "source": ["aws.imagebuilder"],
        "detail-type": [STATE_CHANGE],
        "account": [FACTORY],
        "detail": {"state": {"status": ["AVAILABLE"]}},
        "resources": [
            {"prefix": f"arn:aws:imagebuilder:{REGION}:{FACTORY}:image/golden-al2023/1."}
        ],
    }


def test_the_image_arn_is_of_the_images_region(assembly_dir: Path) -> None:
    """Built in eu-west-1 by the factory, which forwards to this region's bus."""
    (rule,) = image_rules(template(assembly_dir, "Workload"), "Replicated")
    assert rule["EventPattern"]["resources"] == [
        {"prefix": f"arn:aws:imagebuilder:{OTHER_REGION}:{FACTORY}:image/golden/2.1."}
    ]
    assert rule["EventPattern"]["account"] == [FACTORY]


def test_a_shared_image_of_no_named_account_is_left_to_the_schedule(assembly_dir: Path) -> None:
    """Without image_account no pattern can name the factory: no event rule, the schedule."""
    resources = template(assembly_dir, "Workload")
    assert image_rules(resources, "Unnamed") == []
    schedules = [
        r["Properties"]["ScheduleExpression"]
        for r in of_type(resources, "AWS::Events::Rule").values()
        if "Workload/Unnamed" in json.dumps(r["Properties"].get("Targets", []))
    ]
    assert schedules == ["rate(1 day)"]
    stack = cdk.Stack(
        cdk.App(context=cdk_json_context()),
        "S",
        env=cdk.Environment(account=WORKLOADS[0], region=REGION),
    )
    lookup = LatestImageBuild(stack, "L", image_name="golden", owner=ImageOwner.SHARED)
    with pytest.raises(ValueError, match=r"image_account None.*keep a schedule"):
        lookup.on_newer_build("Newer", schedule=None)


def test_a_token_account_is_named_in_the_pattern() -> None:
    stack = cdk.Stack(
        cdk.App(context=cdk_json_context()),
        "S",
        env=cdk.Environment(account=WORKLOADS[0], region=REGION),
    )
    factory = cdk.CfnParameter(stack, "Factory").value_as_string
    LatestImageBuild(
        stack, "L", image_name="golden", owner=ImageOwner.SHARED, image_account=factory
    ).on_newer_build("Newer", schedule=None)
    resources = cdk.assertions.Template.from_stack(stack).to_json()["Resources"]
    rules = [
        r["Properties"]["EventPattern"]
        for r in of_type(resources, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"].get("source") == ["aws.imagebuilder"]
    ]
    assert [rule["account"] for rule in rules] == [[{"Ref": "Factory"}]]


def test_cdk_nag_and_cfn_lint_find_nothing(assembly_dir: Path) -> None:
    report = json.loads((assembly_dir / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    assert plugin["violations"] == []
    factory_findings = [
        finding
        for finding in plugin["suppressedViolations"]
        for construct in finding["violatingConstructs"]
        if construct["constructPath"].startswith("Factory/")
    ]
    assert factory_findings == []  # nothing to acknowledge: no wildcard, no managed policy
    for stack in ("Factory", "Workload"):
        matches = lint_file(
            assembly_dir / f"{stack}.template.json", config=ManualArgs(regions=[REGION])
        )
        assert [str(match) for match in matches] == []


def test_every_state_change_and_a_dead_letter_queue() -> None:
    stack = cdk.Stack(
        cdk.App(context=cdk_json_context()),
        "F",
        env=cdk.Environment(account=FACTORY, region=REGION),
    )
    queue = sqs.Queue(
        stack, "Undelivered", encryption_master_key=kms.Key(stack, "K", enable_key_rotation=True)
    )
    factory = ImageFactoryEvents(
        stack,
        "Events",
        organization_id=ORGANIZATION,
        target_accounts=WORKLOADS[:1],
        statuses=None,
        dead_letter_queue=queue,
    )
    assert factory.destination_bus_arns == [bus(WORKLOADS[0])]  # default: this stack's region
    (rule,) = of_type(
        cdk.assertions.Template.from_stack(stack).to_json()["Resources"], "AWS::Events::Rule"
    ).values()
    assert "detail" not in rule["Properties"]["EventPattern"]
    (target,) = rule["Properties"]["Targets"]
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][1] == "Arn"


def test_it_composes_standalone_with_a_central_bus_only() -> None:
    """No props beyond organization_id and one destination (the lead's ImageFactory nests it)."""
    scope = cdk.Stack(
        cdk.App(context=cdk_json_context()),
        "F",
        env=cdk.Environment(account=FACTORY, region=REGION),
    )
    factory = ImageFactoryEvents(
        scope, "Events", organization_id=ORGANIZATION, central_bus_arn=CENTRAL
    )
    assert factory.destination_bus_arns == [CENTRAL]
    assert len(factory.rules) == 1
    assert factory.factory_account == FACTORY


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"organization_id": "o-ABCDEFGHIJ"}, r"invalid organization_id 'o-ABCDEFGHIJ'"),
        ({"organization_id": "a1b2c3d4e5"}, r"invalid organization_id 'a1b2c3d4e5'"),
        ({"target_accounts": ["12345678901"]}, r"invalid target_accounts account '12345678901'"),
        ({"target_accounts": ["1234567890123"]}, r"'1234567890123': 12 digits"),
        ({"target_accounts": WORKLOADS[0]}, r"must be a list of accounts, got '222233334400'"),
        ({"target_accounts": [WORKLOADS[0]] * 2}, r"lists account '222233334400' twice"),
        ({"target_accounts": [], "central_bus_arn": None}, r"no destination.*got \[\]"),
        ({"target_accounts": None}, r"no destination: give target_accounts \(got None\)"),
        ({"central_bus_arn": "arn:aws:sns:us-east-1:999988887777:t"}, r"'arn:aws:sns:.*event-bus"),
        ({"central_bus_arn": "image-events"}, r"invalid central_bus_arn 'image-events'"),
        ({"target_regions": ["moon-1"]}, r"'moon-1'"),
        ({"target_regions": []}, r"target_regions must be a non-empty list"),
        ({"statuses": "AVAILABLE"}, r"statuses must be .* got 'AVAILABLE'"),
        ({"statuses": ["DONE"]}, r"invalid statuses value 'DONE'"),
        ({"target_accounts": [FACTORY]}, r"own account '111122223333'.*own region 'us-east-1'"),
    ],
)
def test_bad_input_fails_at_synth_naming_the_value(props: dict[str, Any], message: str) -> None:
    stack = cdk.Stack(
        cdk.App(context=cdk_json_context()),
        "F",
        env=cdk.Environment(account=FACTORY, region=REGION),
    )
    given: dict[str, Any] = {"organization_id": ORGANIZATION, "target_accounts": WORKLOADS}
    given.update(props)
    with pytest.raises(ValueError, match=message) as raised:
        ImageFactoryEvents(stack, "Events", **given)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"organization_id": "o-short"}, r"invalid organization_id 'o-short'"),
        (
            {"factory_account": "1111-2222-3333"},
            r"invalid factory_account account '1111-2222-3333'",
        ),
        ({"event_bus_name": "my bus"}, r"invalid event_bus_name 'my bus'"),
    ],
)
def test_bad_policy_input_fails_at_synth_naming_the_value(
    props: dict[str, Any], message: str
) -> None:
    stack = cdk.Stack(
        cdk.App(context=cdk_json_context()),
        "W",
        env=cdk.Environment(account=WORKLOADS[0], region=REGION),
    )
    given: dict[str, Any] = {"organization_id": ORGANIZATION}
    given.update(props)
    with pytest.raises(ValueError, match=message):
        ImageFactoryEventsPolicy(stack, "FactoryEvents", **given)


def test_tokens_pass_through_to_deploy() -> None:
    stack = cdk.Stack(
        cdk.App(context=cdk_json_context()),
        "F",
        env=cdk.Environment(account=FACTORY, region=REGION),
    )
    org = cdk.CfnParameter(stack, "Org").value_as_string
    central = cdk.CfnParameter(stack, "Central").value_as_string
    account = cdk.CfnParameter(stack, "Account").value_as_string
    factory = ImageFactoryEvents(
        stack, "Events", organization_id=org, target_accounts=[account], central_bus_arn=central
    )
    assert len(factory.destination_bus_arns) == 2
    assert isinstance(factory.rules[0], events.Rule)
