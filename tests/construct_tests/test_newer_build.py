"""``on_newer_build()`` in the template: the rule, the evaluator, its triggers and its IAM.

The patterns against Image Builder's sample event and the evaluator end to end are in
``tests/e2e_tests/test_newer_build.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from constructs_lib import ImageOwner, LatestImageBuild
from constructs_lib.lock_file import LOCK_FILE_CONTEXT, LockEntry, LockFile, StackPlace
from image_lookup.contract import ATTRIBUTE_KEYS, Attribute
from tests.support.synth import cdk_json_context

pytestmark = pytest.mark.synth

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = "Watched"
EVALUATOR_ENTRY = "image_lookup.newer_build.evaluate"


def build(app: cdk.App) -> None:
    """Lookups of every kind the rule tells apart, in one stack checked by cdk-nag."""
    stack = cdk.Stack(app, STACK, env=cdk.Environment(account=ACCOUNT, region=REGION))
    topic = sns.Topic(
        stack,
        "Updates",
        master_key=kms.Key(stack, "UpdatesKey", enable_key_rotation=True),
        enforce_ssl=True,
    )
    golden = LatestImageBuild(
        stack,
        "Golden",
        image_name="Golden AL2023",
        version="1.x.x",
        require_tags={"stage": "prod"},
        protect_pinned_build=True,
    )
    golden.on_newer_build("Newer", target=targets.SnsTopic(topic))
    base = LatestImageBuild(
        stack, "Base", image_name="amazon-linux-2023-x86", owner=ImageOwner.AMAZON
    )
    base.on_newer_build("Newer", schedule=events.Schedule.cron(hour="6", minute="0"))
    LatestImageBuild(stack, "Elsewhere", image_name="golden", region="eu-west-1").on_newer_build(
        "Newer"
    )
    LatestImageBuild(stack, "Quiet", image_name="golden", version="2.1.x").on_newer_build(
        "Newer", schedule=None
    )
    name = cdk.CfnParameter(stack, "ImageName").value_as_string
    LatestImageBuild(stack, "Tokened", image_name=name, version="3.x.x").on_newer_build("Newer")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


@pytest.fixture(scope="module")
def assembly_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("watched")
    app = cdk.App(outdir=str(outdir), context=cdk_json_context())
    build(app)
    app.synth()  # cdk-nag: raises on any unacknowledged finding
    return outdir


@pytest.fixture(scope="module")
def resources(assembly_dir: Path) -> dict[str, dict[str, Any]]:
    template = json.loads((assembly_dir / f"{STACK}.template.json").read_text())
    found: dict[str, dict[str, Any]] = template["Resources"]
    return found


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in resources.items() if value["Type"] == kind}


def rules_of(resources: dict[str, dict[str, Any]], lookup: str) -> dict[str, dict[str, Any]]:
    """The lookup's rules by role: ``newer`` (returned), ``image events``, ``schedule``."""
    path = f"{STACK}/{lookup}"
    found: dict[str, dict[str, Any]] = {}
    for properties in (r["Properties"] for r in of_type(resources, "AWS::Events::Rule").values()):
        pattern = properties.get("EventPattern", {})
        if pattern.get("detail", {}).get("constructPath") == [path]:
            found["newer"] = properties
        elif path in json.dumps(properties.get("Targets", [])):
            found["schedule" if "ScheduleExpression" in properties else "image events"] = properties
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def evaluator_input(rule: dict[str, Any]) -> dict[str, Any]:
    """The target's input, with the pin's GetAtt shown as ``<LogicalId.Attr>``.

    A constant ``Input``, or an ``InputTransformer`` whose template's placeholders
    (``<name>``, unquoted: EventBridge inserts the event's value as JSON) are shown
    as the strings ``"<$.path>"``.
    """
    (target,) = rule["Targets"]
    transformer = target.get("InputTransformer")
    template = transformer["InputTemplate"] if transformer else target["Input"]
    separator, parts = template["Fn::Join"]
    text = separator.join(
        part if isinstance(part, str) else "<{}.{}>".format(*part["Fn::GetAtt"]) for part in parts
    )
    for name, path in (transformer or {}).get("InputPathsMap", {}).items():
        text = text.replace(f"<{name}>", json.dumps(f"<{path}>"))
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_the_returned_rule_matches_the_evaluators_event_for_this_lookup(
    resources: dict[str, dict[str, Any]],
) -> None:
    newer = rules_of(resources, "Golden")["newer"]
    assert newer["EventPattern"] == {
        "source": ["latest-image-build"],
        "detail-type": ["Newer Image Build Available"],
        "account": [ACCOUNT],  # the evaluator's, not another account's allowed on the bus
        "detail": {"stack": [STACK], "constructPath": [f"{STACK}/Golden"]},
    }
    (topic_id,) = of_type(resources, "AWS::SNS::Topic")
    assert [t["Arn"] for t in newer["Targets"]] == [{"Ref": topic_id}]
    assert "Targets" not in rules_of(resources, "Quiet")["newer"]  # target defaults to none


def test_one_evaluator_per_stack_from_the_librarys_package(
    resources: dict[str, dict[str, Any]], assembly_dir: Path
) -> None:
    functions = of_type(resources, "AWS::Lambda::Function")
    evaluators = [
        key for key, f in functions.items() if f["Properties"]["Handler"] == EVALUATOR_ENTRY
    ]
    assert len(evaluators) == 1  # five watched lookups
    # its asset holds the evaluator's modules (the lookup's handler has its own, without them)
    s3_key = functions[evaluators[0]]["Properties"]["Code"]["S3Key"]
    asset = assembly_dir / f"asset.{s3_key.removesuffix('.zip')}" / "image_lookup"
    assert {"newer_build.py", "newer_build_event.py", "events_api.py"} <= {
        path.name for path in asset.iterdir()
    }
    for rule in of_type(resources, "AWS::Events::Rule").values():
        for target in rule["Properties"].get("Targets", []):
            if "PinnedBuildArn" in json.dumps(target):  # an evaluator's input
                assert target["Arn"]["Fn::GetAtt"][0] == evaluators[0]


def test_the_input_is_the_lookups_properties_and_its_pin(
    resources: dict[str, dict[str, Any]],
) -> None:
    (golden_id,) = [k for k in of_type(resources, "Custom::LatestImageBuild") if "Golden" in k]
    watch = {
        # no RefreshToken (new every synth) and no ProtectPinnedBuild (the deploy's job)
        "Lookup": {
            "ImageName": "Golden AL2023",
            "VersionSelector": "1.x.x",
            "Owner": "Self",
            "RequireTags": {"stage": "prod"},
        },
        "PinnedBuildArn": f"<{golden_id}.ImageBuildVersionArn>",
        "Stack": STACK,
        "ConstructPath": f"{STACK}/Golden",
    }
    assert evaluator_input(rules_of(resources, "Golden")["schedule"]) == watch
    # an event's trigger rides along: its account, region and resources (the build's ARN)
    assert evaluator_input(rules_of(resources, "Golden")["image events"]) == {
        **watch,
        "Trigger": {
            "account": "<$.account>",
            "region": "<$.region>",
            "resources": "<$.resources>",
        },
    }


def test_image_builder_events_narrowed_to_the_image_and_selector(
    resources: dict[str, dict[str, Any]],
) -> None:
    images = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/"
    prefixes = {
        lookup: rules_of(resources, lookup)["image events"]["EventPattern"]["resources"]
        for lookup in ("Golden", "Quiet", "Tokened")
    }
    assert prefixes == {
        "Golden": [{"prefix": f"{images}golden-al2023/1."}],  # the ARN form of the name
        "Quiet": [{"prefix": f"{images}golden/2.1."}],
        "Tokened": [{"prefix": images}],  # a name known only at deploy: the account's images
    }
    pattern = rules_of(resources, "Golden")["image events"]["EventPattern"]
    assert {key: pattern[key] for key in ("source", "detail-type", "detail")} == {
        "source": ["aws.imagebuilder"],
        "detail-type": ["EC2 Image Builder Image State Change"],
        "detail": {"state": {"status": ["AVAILABLE"]}},
    }


def test_no_image_builder_rule_where_no_event_comes(resources: dict[str, dict[str, Any]]) -> None:
    """Amazon's images, and images in another region, send no events to this stack's bus."""
    assert set(rules_of(resources, "Base")) == {"newer", "schedule"}
    assert set(rules_of(resources, "Elsewhere")) == {"newer", "schedule"}


def test_the_schedule_defaults_to_daily_and_can_be_changed_or_dropped(
    resources: dict[str, dict[str, Any]],
) -> None:
    schedules = {
        lookup: rules_of(resources, lookup).get("schedule", {}).get("ScheduleExpression")
        for lookup in ("Golden", "Base", "Quiet")
    }
    assert schedules == {"Golden": "rate(1 day)", "Base": "cron(0 6 * * ? *)", "Quiet": None}


def test_the_evaluators_role_reads_images_and_puts_events_on_the_default_bus_only(
    resources: dict[str, dict[str, Any]],
) -> None:
    functions = of_type(resources, "AWS::Lambda::Function")
    (evaluator,) = [f for f in functions.values() if f["Properties"]["Handler"] == EVALUATOR_ENTRY]
    role_id = evaluator["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(resources, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    grants = {
        (action, json.dumps(resource))
        for statement in policy
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])  # aws-cdk-lib merges statements
    }
    (log_group_id,) = [
        key for key in of_type(resources, "AWS::Logs::LogGroup") if "NewerBuild" in key
    ]
    own = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/*"
    assert grants == {
        ("imagebuilder:ListImages", '"*"'),  # no resource type
        ("imagebuilder:GetImage", json.dumps(own)),
        ("imagebuilder:ListImageBuildVersions", json.dumps(own)),  # Golden's gates
        ("imagebuilder:GetImage", json.dumps(f"arn:aws:imagebuilder:{REGION}:aws:image/*")),
        ("imagebuilder:GetImage", json.dumps(own.replace(REGION, "eu-west-1"))),  # Elsewhere
        ("events:PutEvents", json.dumps(f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default")),
        ("logs:CreateLogStream", json.dumps({"Fn::GetAtt": [log_group_id, "Arn"]})),
        ("logs:PutLogEvents", json.dumps({"Fn::GetAtt": [log_group_id, "Arn"]})),
    }
    assert evaluator["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}
    # its grants exist before it can run
    policy_id = next(
        k
        for k, p in of_type(resources, "AWS::IAM::Policy").items()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    )
    assert evaluator["DependsOn"] == [policy_id]


def test_cdk_nag_and_cfn_lint_find_nothing(assembly_dir: Path) -> None:
    report = json.loads((assembly_dir / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions" and plugin["violations"] == []
    evaluator_findings = {
        finding["ruleName"]
        for finding in plugin["suppressedViolations"]
        for construct in finding["violatingConstructs"]
        if construct["constructPath"].startswith(f"{STACK}/LatestImageBuildNewerBuild/")
    }
    assert evaluator_findings == {
        "AwsSolutions-IAM5[Resource::*]",
        f"AwsSolutions-IAM5[Resource::arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/*]",
        f"AwsSolutions-IAM5[Resource::arn:aws:imagebuilder:{REGION}:aws:image/*]",
        f"AwsSolutions-IAM5[Resource::arn:aws:imagebuilder:eu-west-1:{ACCOUNT}:image/*]",
    }
    template = assembly_dir / f"{STACK}.template.json"
    matches = lint_file(template, config=ManualArgs(regions=[REGION]))
    assert [str(match) for match in matches] == []


def test_no_schedule_for_a_lookup_no_event_reaches_fails_at_synth() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account=ACCOUNT, region=REGION))
    base = LatestImageBuild(stack, "Base", image_name="amazon-linux-2023-x86", owner="Amazon")
    with pytest.raises(ValueError, match=r"on_newer_build\('Newer', schedule=None\).*'Amazon'"):
        base.on_newer_build("Newer", schedule=None)
    elsewhere = LatestImageBuild(stack, "Elsewhere", image_name="golden", region="eu-west-1")
    with pytest.raises(ValueError, match=r"'eu-west-1'.*keep a schedule"):
        elsewhere.on_newer_build("Newer", schedule=None)


def test_a_schedule_that_is_not_one_fails_at_synth() -> None:
    lookup = LatestImageBuild(cdk.Stack(cdk.App(), "S"), "Golden", image_name="golden")
    with pytest.raises(ValueError, match=r"events\.Schedule or None, got 'rate\(1 day\)'"):
        lookup.on_newer_build("Newer", schedule="rate(1 day)")  # type: ignore[arg-type]


def test_lock_mode_hands_the_evaluator_the_locked_pin(tmp_path: Path) -> None:
    """In lock mode there is no custom resource: the pin in the input is the lock file's."""
    build_arn = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/golden/1.4.0/2"
    pin = {key: "" for key in ATTRIBUTE_KEYS} | {  # a consistent entry, as `lock` writes
        Attribute.IMAGE_BUILD_VERSION_ARN: build_arn,
        Attribute.IMAGE_VERSION_ARN: build_arn.rsplit("/", 1)[0],
        Attribute.IMAGE_NAME: "golden",
        Attribute.VERSION: "1.4.0",
        Attribute.BUILD_VERSION: "1.4.0/2",
    }
    query = {"ImageName": "golden", "VersionSelector": "1.x.x", "Owner": "Self"}
    lock = LockFile({f"{STACK}/Golden": LockEntry(query, StackPlace(REGION, ACCOUNT), pin)})
    (tmp_path / "images.lock.json").write_text(lock.render())
    app = cdk.App(context={LOCK_FILE_CONTEXT: str(tmp_path / "images.lock.json")})
    stack = cdk.Stack(app, STACK, env=cdk.Environment(account=ACCOUNT, region=REGION))
    rule = LatestImageBuild(stack, "Golden", image_name="golden", version="1.x.x").on_newer_build(
        "Newer"
    )
    assert isinstance(rule, events.Rule)
    template = app.synth().get_stack_by_name(STACK).template
    schedule = rules_of(template["Resources"], "Golden")["schedule"]
    (target,) = schedule["Targets"]
    assert json.loads(target["Input"]) == {
        "Lookup": query,
        "PinnedBuildArn": build_arn,
        "Stack": STACK,
        "ConstructPath": f"{STACK}/Golden",
    }
    assert not of_type(template["Resources"], "Custom::LatestImageBuild")


def test_an_adapters_requirement_reaches_the_evaluator() -> None:
    """machine_image() makes a deploy fail without an AMI in the region: no event promises one."""
    app = cdk.App()
    stack = cdk.Stack(app, STACK, env=cdk.Environment(account=ACCOUNT, region=REGION))
    golden = LatestImageBuild(stack, "Golden", image_name="golden", platform="Linux")
    golden.on_newer_build("Newer")
    golden.machine_image()  # after on_newer_build(): the input is read when the app synthesizes
    template = app.synth().get_stack_by_name(STACK).template
    schedule = rules_of(template["Resources"], "Golden")["schedule"]
    assert evaluator_input(schedule)["Lookup"]["RequireAmi"] == "true"
