"""The handler asset is staged privately: nothing planted in a shared temp directory reaches it.

On a shared CI host the temp directory (``/tmp``, mode 1777) is writable by every user. A
folder someone else creates there stays theirs (they can rewrite it at any time), so the
asset must come from a folder this process made for itself, filled from the installed
``image_lookup`` package. The asset's hash (the Lambda code's S3 key) is aws-cdk-lib's
fingerprint of the files' relative paths and bytes, so it is the same whichever private
folder a synth used.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from constructs_lib import LatestImageBuild
from constructs_lib.handler_asset import (
    ASSET_STAGING_DISABLED_CONTEXT,
    STAGING_PREFIX,
    asset_source,
    handler_package_dir,
    module_closure,
    staged_lookup_asset,
)
from tests.support.synth import synth_app

pytestmark = pytest.mark.synth

ROOT = Path(__file__).resolve().parents[2]
PLANTED = b"raise SystemExit('planted by another user')\n"


@pytest.fixture
def shared_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A stand-in for the host's shared temp directory, and a fresh staging per test."""
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    staged_lookup_asset.cache_clear()
    yield shared
    staged_lookup_asset.cache_clear()  # later tests stage in the real temp dir again


def package_files() -> dict[str, bytes]:
    """The lookup asset's files as they must be: the handler's modules, as staged."""
    return {
        f"{package}/{module.name}": asset_source(module).encode()
        for package, module in module_closure("image_lookup.handler")
    }


def plant(folder: Path) -> None:
    """A look-alike of the asset whose every module is someone else's code."""
    (folder / "image_lookup").mkdir(parents=True)
    for name in package_files():
        (folder / name).write_bytes(PLANTED)


def synthesized_asset(outdir: Path) -> tuple[str, dict[str, bytes]]:
    """The handler's S3 key and the files of the asset CDK copied into the assembly."""

    def build(app: cdk.App) -> None:
        LatestImageBuild(cdk.Stack(app, "S"), "L", image_name="golden")

    synth_app(outdir, build)
    template = json.loads((outdir / "S.template.json").read_text())
    (key,) = {
        r["Properties"]["Code"]["S3Key"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"] == "image_lookup.handler.on_event"
    }
    asset = outdir / f"asset.{key.removesuffix('.zip')}"
    files = {str(p.relative_to(asset)): p.read_bytes() for p in asset.rglob("*") if p.is_file()}
    return key, files


def test_a_planted_folder_never_reaches_the_asset(shared_tmp: Path, tmp_path: Path) -> None:
    # the name 0.2.0 staged under (a hash of the sources), and one under the prefix alone
    digest = hashlib.sha256()
    for name, data in sorted(package_files().items()):
        digest.update(Path(name).name.encode() + b"\0" + data + b"\0")
    planted = [
        shared_tmp / f"{STAGING_PREFIX}{digest.hexdigest()[:20]}",
        shared_tmp / STAGING_PREFIX,
    ]
    for folder in planted:
        plant(folder)

    _, files = synthesized_asset(tmp_path / "out")

    assert files == package_files()
    assert Path(staged_lookup_asset()).parent == shared_tmp
    assert Path(staged_lookup_asset()) not in planted


def test_the_staging_folder_is_the_process_own(shared_tmp: Path) -> None:
    staged = Path(staged_lookup_asset())
    info = staged.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700  # mkdtemp: only its owner may enter or write
    assert info.st_uid == os.getuid()
    staged_lookup_asset.cache_clear()
    assert Path(staged_lookup_asset()) != staged  # never reused, even by the same user


def test_the_asset_hash_is_the_same_whichever_folder_staged_it(
    shared_tmp: Path, tmp_path: Path
) -> None:
    first_key, first_files = synthesized_asset(tmp_path / "first")
    first_folder = staged_lookup_asset()
    staged_lookup_asset.cache_clear()  # as a new process would
    second_key, second_files = synthesized_asset(tmp_path / "second")
    assert staged_lookup_asset() != first_folder
    assert first_key == second_key
    assert first_files == second_files == package_files()


def run_python(code: str, tmp: Path) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "lambda"), str(ROOT)]),
        "TMPDIR": str(tmp),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_folder_is_removed_at_exit_unless_kept(tmp_path: Path) -> None:
    out = run_python(
        "from constructs_lib.handler_asset import staged_lookup_asset as s\n"
        "print(s()); print(s(keep=True))",
        tmp_path,
    )
    removed, kept = (Path(line) for line in out.split())
    assert removed.parent == kept.parent == tmp_path
    assert not removed.exists()
    assert {str(p.relative_to(kept)) for p in kept.rglob("*.py")} == set(package_files())


def test_synth_without_staging_keeps_the_folder_the_assembly_names(tmp_path: Path) -> None:
    """``cdk synth --no-staging``: the asset manifest names the staged folder itself."""
    outdir = tmp_path / "cdk.out"
    context = {ASSET_STAGING_DISABLED_CONTEXT: True}
    run_python(
        "import aws_cdk as cdk\n"
        "from constructs_lib import LatestImageBuild\n"
        f"app = cdk.App(outdir={str(outdir)!r}, context={context!r})\n"
        "LatestImageBuild(cdk.Stack(app, 'S'), 'L', image_name='golden')\n"
        "app.synth()\n",
        tmp_path,
    )
    manifest = json.loads((outdir / "S.assets.json").read_text())
    paths = [Path(entry["source"]["path"]) for entry in manifest["files"].values()]
    handler = [p for p in paths if p.is_absolute() and p.name.startswith(STAGING_PREFIX)]
    assert len(handler) == 1, paths
    assert (handler[0] / "image_lookup" / "handler.py").is_file()


def test_the_asset_holds_every_module_the_handler_imports_and_no_other(tmp_path: Path) -> None:
    """What Python itself loads for ``import image_lookup.handler`` is what is staged."""
    out = run_python(
        "import sys, image_lookup.handler\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'image_lookup')))",
        tmp_path,
    )
    loaded = {name.replace(".", "/") + ".py" for name in out.split() if "." in name}
    staged = set(package_files()) - {"image_lookup/__init__.py"}
    assert loaded == staged
    # the on_newer_build() evaluator's modules have an asset of their own
    assert "image_lookup/newer_build.py" not in staged


#: Prints, for every module of the handler's package, what its code defines at run time:
#: each name the module binds itself (not imported) with its kind, a NamedTuple's fields
#: and defaults, a function's parameters and their defaults, a constant's value.
INTERFACE_DUMP = """
import importlib, inspect, json, os, pathlib, sys
out = {}
for path in sorted(pathlib.Path(sys.argv[1], "image_lookup").glob("*.py")):
    name = "image_lookup." + path.stem if path.stem != "__init__" else "image_lookup"
    module = importlib.import_module(name)
    names = {}
    for key, value in vars(module).items():
        if key.startswith("__") or key == "TYPE_CHECKING" or inspect.ismodule(value):
            continue  # TYPE_CHECKING: typing's, imported only for annotations
        imported = getattr(value, "__module__", name) != name
        if imported and (inspect.isclass(value) or callable(value)):
            continue
        if inspect.isclass(value):
            fields = getattr(value, "_fields", None)
            names[key] = ["class", list(fields or ()), repr(getattr(value, "_field_defaults", {}))]
        elif callable(value):
            params = inspect.signature(value).parameters.values()
            shown = [os.environ is not p.default and repr(p.default) for p in params]
            names[key] = ["function", [(p.name, p.kind.name) for p in params], shown]
        else:
            names[key] = ["value", repr(value)[:200]]
    out[name] = names
print(json.dumps(out, sort_keys=True))
"""


def test_a_staged_module_defines_what_its_source_defines(tmp_path: Path) -> None:
    """The staged asset (docstrings, comments and annotations dropped) has the same run-time
    interface as the source: every class, NamedTuple field, function signature and constant."""
    staged = Path(staged_lookup_asset(keep=True))
    source_dir = tmp_path / "source"
    (source_dir / "image_lookup").mkdir(parents=True)
    for relative in package_files():
        (source_dir / relative).write_bytes((ROOT / "lambda" / relative).read_bytes())

    def interface(root: Path) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-c", INTERFACE_DUMP, str(root)],
            # one hash seed: a frozenset's repr lists its items in hash order
            env={**os.environ, "PYTHONPATH": str(root), "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
            check=True,
        )
        dumped: dict[str, Any] = json.loads(result.stdout)
        return dumped

    staged_interface = interface(staged)
    assert staged_interface == interface(source_dir)
    assert staged_interface["image_lookup.rollback"]["EventsReading"][1] == [
        "previous",
        "ordinary_update",
    ]


def test_a_staged_module_keeps_no_docstring_comment_or_function_annotation() -> None:
    for module in handler_package_dir().glob("*.py"):
        staged = asset_source(module)
        compile(staged, module.name, "exec")
        assert '"""' not in staged and "\n#" not in staged, module.name
        for node in ast.walk(ast.parse(staged)):
            if isinstance(node, ast.FunctionDef):
                arguments = node.args
                named = (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
                assert node.returns is None, (module.name, node.name)
                assert all(a.annotation is None for a in named), (module.name, node.name)
            assert not (isinstance(node, ast.Name) and node.id == "TYPE_CHECKING"), module.name
