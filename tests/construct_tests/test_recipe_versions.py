"""Every recipe the README and the example app build survives the next build of its parent.

A recipe is immutable. When the pin moves (a new build of the same version, or a new version),
CloudFormation replaces the recipe and creates the replacement *before* it deletes the old one
(CloudFormation User Guide, "Update behaviors of stack resources": replacement). Image Builder
refuses a second recipe with a name and version that exist. The safe form is a wildcard patch
version, ``1.0.x``, which the service increments itself:

* Image Builder User Guide, "Create a new version of an image recipe": "When you create a recipe
  with a wildcard version such as 1.0.x, Image Builder automatically increments the version (for
  example, 1.0.1, 1.0.2, 1.0.3, and so on)". botocore's model: the ``semanticVersion`` of
  CreateImageRecipe / CreateContainerRecipe is a ``WildcardVersionNumber`` (read below).
* CloudFormation's resource schemas (as cfn-lint 1.58 ships them): ``Version`` is a string with
  no pattern, and ``propertyTransform`` maps ``x`` to ``[0-9]+`` (the recipe read back carries the
  number the service assigned). Which properties force a replacement is the schema's
  ``createOnlyProperties``, read here rather than copied.
* aws-cdk-lib's ``aws_imagebuilder_alpha``: ``DEFAULT_RECIPE_VERSION = '1.0.x'`` in
  ``lib/image-recipe.js`` and ``lib/container-recipe.js`` of its jsii bundle.

The test replays the deploys against a model of those two rules: CloudFormation replaces a
resource whose create-only properties changed, new first; Image Builder's recipe store refuses an
existing (name, version) and numbers a ``<major>.<minor>.x`` version after the latest existing
patch. The model knows no other wildcard form, so a recipe relying on one fails the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import botocore.session
import pytest
from aws_cdk import aws_imagebuilder as imagebuilder
from aws_cdk import aws_imagebuilder_alpha as imagebuilder_alpha
from cfnlint.api import ManualArgs, lint_file
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from app import build_app
from constructs_lib import ImageOwner, LatestImageBuild
from image_lookup.contract import RESOURCE_TYPE
from tests.construct_tests.test_readme_snippets import SNIPPETS
from tests.support.cloudformation import DeployedStack
from tests.support.synth import cdk_json_context

pytestmark = pytest.mark.synth

REGION = "us-east-1"
RECIPE_TYPES = {
    "AWS::ImageBuilder::ImageRecipe": "CreateImageRecipe",
    "AWS::ImageBuilder::ContainerRecipe": "CreateContainerRecipe",
}
AUTO_PATCH = re.compile(r"^(\d+)\.(\d+)\.x$")


@dataclass(frozen=True)
class Pin:
    """What a lookup answers (its ``Fn::GetAtt`` values) for one build."""

    version: str
    build: int

    def attributes(self, image_name: str) -> dict[str, str]:
        arn_name = image_name.lower().replace(" ", "-")
        version_arn = f"arn:aws:imagebuilder:{REGION}:aws:image/{arn_name}/{self.version}"
        return {
            "ImageBuildVersionArn": f"{version_arn}/{self.build}",
            "ImageVersionArn": version_arn,
            "ImageName": image_name,
            "Version": self.version,
            "BuildVersion": f"{self.version}/{self.build}",
            "AmiId": f"ami-{self.version.replace('.', '')}{self.build:04d}",
            "ContainerImageUri": "",
            "Platform": "Linux",
            "OsVersion": "Amazon Linux 2023",
            "ImageType": "AMI",
            "DateCreated": "2026-11-15T00:00:00.000Z",
        }


#: The pin as a stack sees it over time: first deploy, a new build of the same version, a new
#: version (the service's own date-style versions, leading zero included).
PINS = (Pin("2026.11.05", 1), Pin("2026.11.05", 2), Pin("2026.12.01", 1))


class AlreadyExistsError(Exception):
    """Image Builder's ResourceAlreadyExistsException."""


class RecipeStore:
    """The two Image Builder rules a replacement meets: unique (name, version); 1.0.x numbering."""

    def __init__(self) -> None:
        self.recipes: set[tuple[str, str, str]] = set()  # (type, name, version)

    def create(self, resource_type: str, name: str, version: str) -> str:
        """CreateImageRecipe / CreateContainerRecipe: the version the new recipe gets."""
        assert version_pattern(resource_type).fullmatch(version), version
        assert re.fullmatch(name_pattern(resource_type), name), name
        auto = AUTO_PATCH.match(version)
        if auto:
            prefix = f"{auto[1]}.{auto[2]}."
            patches = [
                int(v.removeprefix(prefix))
                for t, n, v in self.recipes
                if (t, n) == (resource_type, name) and v.startswith(prefix)
            ]
            version = f"{prefix}{max(patches) + 1 if patches else 0}"
        elif "x" in version:
            raise AssertionError(f"{version!r}: no documented numbering for this wildcard")
        if (resource_type, name, version) in self.recipes:
            raise AlreadyExistsError(f"{resource_type} {name}/{version} already exists")
        self.recipes.add((resource_type, name, version))
        return version

    def delete(self, resource_type: str, name: str, version: str) -> None:
        """DeleteImageRecipe / DeleteContainerRecipe."""
        self.recipes.remove((resource_type, name, version))


def schema(resource_type: str) -> dict[str, Any]:
    found: dict[str, Any] = PROVIDER_SCHEMA_MANAGER.get_resource_schema(
        REGION, resource_type
    ).schema
    return found


def name_pattern(resource_type: str) -> str:
    pattern: str = schema(resource_type)["properties"]["Name"]["pattern"]
    return pattern


def version_pattern(resource_type: str) -> re.Pattern[str]:
    """The semanticVersion pattern of the Create call, from botocore's imagebuilder model."""
    model = botocore.session.get_session().get_service_model("imagebuilder")
    request = model.operation_model(RECIPE_TYPES[resource_type]).input_shape
    assert request is not None
    return re.compile(request.members["semanticVersion"].metadata["pattern"])


def create_only(resource_type: str) -> list[str]:
    return [
        pointer.removeprefix("/properties/")
        for pointer in schema(resource_type)["createOnlyProperties"]
    ]


class PinnedStack(DeployedStack):
    """A synthesized stack whose lookups answer with ``self.pin``."""

    pin = PINS[0]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
            logical_id, attribute = value["Fn::GetAtt"]
            resource = self.resources[logical_id]
            if resource["Type"] == RESOURCE_TYPE:
                return self.pin.attributes(resource["Properties"]["ImageName"])[attribute]
        return super().resolve(value)


@dataclass
class Replay:
    """What happened to one recipe over PINS."""

    recipes: list[tuple[str, str]] = field(default_factory=list)  # (name, version) made
    replacements: int = 0


def replay(stack: PinnedStack, logical_id: str, store: RecipeStore) -> Replay:
    """Deploy PINS in turn, replacing the recipe as CloudFormation would."""
    resource_type = stack.resources[logical_id]["Type"]
    keys = create_only(resource_type)
    result = Replay()
    current: dict[str, Any] | None = None
    for pin in PINS:
        stack.pin = pin
        wanted = stack.resolve(stack.resources[logical_id]["Properties"])
        assert str(wanted["ParentImage"]).endswith(f"/{pin.version}/{pin.build}"), wanted
        if current is not None and all(wanted.get(k) == current.get(k) for k in keys):
            continue
        version = store.create(resource_type, wanted["Name"], wanted["Version"])  # new first
        if current is not None:
            store.delete(resource_type, *result.recipes[-1])  # then cleanup
            result.replacements += 1
        result.recipes.append((wanted["Name"], version))
        current = wanted
    return result


def synthesized(build: Callable[[cdk.App], None], outdir: Path) -> Iterator[PinnedStack]:
    app = cdk.App(outdir=str(outdir), context=cdk_json_context())
    build(app)
    assembly = app.synth()
    for artifact in assembly.stacks:
        yield PinnedStack(Path(assembly.directory), artifact.stack_name, {})


def recipes_of(stack: PinnedStack) -> list[str]:
    return [i for i, r in stack.resources.items() if r["Type"] in RECIPE_TYPES]


def snippet_app(index: int) -> Callable[[cdk.App], None]:
    def build(app: cdk.App) -> None:
        stack = cdk.Stack(
            app, "Snippet", env=cdk.Environment(account="123456789012", region=REGION)
        )
        exec(
            compile(SNIPPETS[index], f"README.md snippet {index + 1}", "exec"),
            {"app": app, "self": stack},
        )

    return build


SOURCES = {
    f"README snippet {index + 1}": snippet_app(index)
    for index, snippet in enumerate(SNIPPETS)
    if "Recipe(" in snippet
}


@pytest.fixture(scope="module")
def recipe_stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PinnedStack]:
    """Every stack holding a recipe: the README's snippets and the example app's stacks."""
    stacks: dict[str, PinnedStack] = {}
    for label, build in SOURCES.items():
        for stack in synthesized(build, tmp_path_factory.mktemp("snippet")):
            if recipes_of(stack):
                stacks[f"{label}: {stack.stack_name}"] = stack
    outdir = tmp_path_factory.mktemp("example")
    assembly = build_app(outdir=str(outdir), context=cdk_json_context()).synth()
    for artifact in assembly.stacks:
        stack = PinnedStack(outdir, artifact.stack_name, {})
        if recipes_of(stack):
            stacks[f"example app: {artifact.stack_name}"] = stack
    return stacks


def test_every_recipe_in_the_readme_and_the_example_is_checked(
    recipe_stacks: dict[str, PinnedStack],
) -> None:
    assert len(SOURCES) >= 3  # the headline, to_base_image() and the recipe section
    assert {label.split(":")[0] for label in recipe_stacks} >= {*SOURCES, "example app"}
    assert {"example app: GoldenImagePipeline", "example app: GoldenRecipeL2"} <= set(recipe_stacks)


def test_recipes_survive_a_new_build_and_a_new_version(
    recipe_stacks: dict[str, PinnedStack],
) -> None:
    failures: list[str] = []
    for label, stack in recipe_stacks.items():
        for logical_id in recipes_of(stack):
            store = RecipeStore()
            try:
                result = replay(stack, logical_id, store)
            except AlreadyExistsError as error:
                failures.append(f"{label} {logical_id}: the moved pin fails to deploy: {error}")
                continue
            # every move replaced the recipe, each replacement with a name+version of its own
            assert result.replacements == len(PINS) - 1, label
            assert len(set(result.recipes)) == len(PINS), (label, result.recipes)
            assert len(store.recipes) == 1, label  # the old ones went in cleanup
    assert failures == []


def test_a_fixed_recipe_version_collides_when_the_pin_moves(tmp_path: Path) -> None:
    """The model catches the trap: the 0.2.0 headline (``version="1.0.0"``) fails on a new build."""

    def build(app: cdk.App) -> None:
        stack = cdk.Stack(app, "Fixed")
        base = LatestImageBuild(
            stack, "Base", image_name="amazon-linux-2023-x86", owner=ImageOwner.AMAZON
        )
        imagebuilder.CfnImageRecipe(
            stack,
            "Recipe",
            name="my-recipe",
            version="1.0.0",
            parent_image=base.image_build_version_arn,
        )

    (stack,) = synthesized(build, tmp_path)
    with pytest.raises(AlreadyExistsError, match=re.escape("my-recipe/1.0.0 already exists")):
        replay(stack, recipes_of(stack)[0], RecipeStore())


def test_the_schema_and_the_service_take_the_wildcard_version() -> None:
    for resource_type in RECIPE_TYPES:
        version = schema(resource_type)["properties"]["Version"]
        assert version["type"] == "string" and "pattern" not in version, version
        transform = schema(resource_type)["propertyTransform"]["/properties/Version"]
        assert '"x", "[0-9]+"' in transform  # CloudFormation reads back a number for each x
        assert {"Name", "Version", "ParentImage"} <= set(create_only(resource_type))
        assert schema(resource_type)["primaryIdentifier"] == ["/properties/Arn"]
        assert version_pattern(resource_type).fullmatch("1.0.x")


def test_the_alpha_module_defaults_to_the_wildcard_version() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Alpha")
    base = LatestImageBuild(stack, "Base", image_name="golden")
    imagebuilder_alpha.ImageRecipe(stack, "Recipe", base_image=base.to_base_image())
    template = app.synth().get_stack_by_name("Alpha").template
    (recipe,) = (
        r for r in template["Resources"].values() if r["Type"] == "AWS::ImageBuilder::ImageRecipe"
    )
    assert recipe["Properties"]["Version"] == "1.0.x"


def test_cfn_lint_accepts_every_recipe_template(recipe_stacks: dict[str, PinnedStack]) -> None:
    for label, stack in recipe_stacks.items():
        path = stack.assembly_dir / f"{stack.stack_name}.template.json"
        matches = lint_file(path, config=ManualArgs(regions=[REGION, "eu-west-1"]))
        assert [str(m) for m in matches] == [], label
        assert json.loads(path.read_text())["Resources"]
