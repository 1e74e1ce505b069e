"""The wheel end to end: install it in a fresh venv outside the repo and use it from another app."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from local_endpoints.imagebuilder import FakeImageBuilder

ROOT = Path(__file__).resolve().parents[2]
CONSUMER_APP = """
import aws_cdk as cdk
from constructs_lib import ImageOwner, LatestImageBuild

app = cdk.App(outdir="cdk.out")
stack = cdk.Stack(app, "Consumer")
LatestImageBuild(stack, "Base", image_name="amazon-linux-2023-x86", owner=ImageOwner.AMAZON)
app.synth()
"""

pytestmark = pytest.mark.synth


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # setuptools keeps build/lib between builds; a stale module there would end up in the wheel
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    run(
        sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, ROOT, cwd=dist
    )
    (built,) = dist.glob("latest_image_build-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh venv outside the repo with only the wheel (and its dependencies) installed."""
    venv = tmp_path_factory.mktemp("consumer-venv")
    run(sys.executable, "-m", "venv", venv, cwd=venv)
    pip = venv / "bin" / "pip"
    # --no-compile: byte-compiling aws-cdk-lib takes most of the install time
    constraints = ROOT / "constraints.txt"
    run(pip, "install", "-q", "--no-compile", "-c", constraints, wheel, cwd=venv)
    return venv


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env


def test_wheel_holds_its_four_packages_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.endswith(".dist-info/RECORD")}
    assert {n for n in top_level if not n.endswith(".dist-info")} == {
        "constructs_lib",
        "image_lookup",
        "latest_image_build_cli",
        "pin_registry",  # the ImageFactory's registry function: an asset of its own
    }
    assert "constructs_lib/py.typed" in names and "image_lookup/py.typed" in names
    assert "pin_registry/handler.py" in names
    assert "image_lookup/handler.py" in names
    # the command line is a package of its own, outside the handler's package (and asset)
    assert "latest_image_build_cli/main.py" in names
    assert not any(n in names for n in ("image_lookup/cli.py", "image_lookup/__main__.py"))
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "latest-image-build = latest_image_build_cli.main:main" in (
        zipfile.ZipFile(wheel).read(entry_points).decode()
    )
    metadata = next(n for n in names if n.endswith("METADATA"))
    requires = [
        line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]  # fmt: skip
    assert any(r.startswith("Requires-Dist: aws-cdk-lib") and ">=" in r for r in requires)
    # ranges for users, pins only in the repo (a marker's `extra == "alpha"` is no pin)
    assert not any("==" in r.split(";")[0] for r in requires)
    assert any(
        r.startswith("Requires-Dist: aws-cdk.aws-imagebuilder-alpha") and 'extra == "alpha"' in r
        for r in requires
    )


def test_another_app_synthesizes_with_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    python = installed / "bin" / "python"
    location = run(python, "-c", "import image_lookup; print(image_lookup.__file__)", cwd=tmp_path)
    assert location.startswith(str(installed)), location  # not the repo's copy
    (tmp_path / "app.py").write_text(CONSUMER_APP)
    run(python, "app.py", cwd=tmp_path, env=clean_env())
    template = json.loads((tmp_path / "cdk.out" / "Consumer.template.json").read_text())
    handler = next(
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"] == "image_lookup.handler.on_event"
    )
    asset_hash = handler["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset_dir = tmp_path / "cdk.out" / f"asset.{asset_hash}"
    files = sorted(str(p.relative_to(asset_dir)) for p in asset_dir.rglob("*") if p.is_file())
    assert "image_lookup/handler.py" in files
    assert all(f.startswith("image_lookup/") and f.endswith(".py") for f in files), files
    assert "image_lookup/cli.py" not in files  # the command line stays out of the asset
    # the modules the handler imports, as the installed package finds them
    closure = run(
        python,
        "-c",
        "from constructs_lib.handler_asset import module_closure as m\n"
        "print(' '.join(f'{p}/{f.name}' for p, f in m('image_lookup.handler')))",
        cwd=tmp_path,
        env=clean_env(),
    )
    assert files == sorted(closure.split())


def test_console_command_matches_python_m(installed: Path, fake: FakeImageBuilder) -> None:
    fake.add("golden", "1.4.0")
    fake.add("golden", "1.10.0")
    args = ["--name", "golden", "--selector", "1.x.x", "--region", "us-east-1"]
    command = run(installed / "bin" / "latest-image-build", *args, cwd=installed)
    module = run(installed / "bin" / "python", "-m", "latest_image_build_cli", *args, cwd=installed)
    assert command == module
    assert json.loads(command)["BuildVersion"] == "1.10.0/1"
