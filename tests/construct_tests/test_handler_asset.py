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


def test_a_staged_module_is_its_source_without_docstrings() -> None:
    """Same statements (ast), docstrings gone, comments gone, and it still compiles."""
    for module in handler_package_dir().glob("*.py"):
        original = ast.parse(module.read_text())
        for node in ast.walk(original):
            body = getattr(node, "body", None)
            if (
                isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
        staged = asset_source(module)
        assert ast.dump(ast.parse(staged)) == ast.dump(original), module.name
        assert '"""' not in staged and "\n#" not in staged
        compile(staged, module.name, "exec")
