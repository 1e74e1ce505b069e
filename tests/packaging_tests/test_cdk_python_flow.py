"""The usual CDK Python flow synthesizes the example app in a clean copy of the repo.

What a CDK user does after cloning (the CDK Developer Guide, "Working with the AWS CDK in
Python", and the README that ``cdk init app --language python`` writes): ``python -m venv .venv``,
activate it, ``pip install -r requirements.txt``, then ``cdk synth``, which runs cdk.json's ``app``
command with ``CDK_OUTDIR`` set to the assembly folder. Nothing of this repo's own set-up (Makefile,
scripts/) is used. Takes about 35 s on 2 cores: most of it is pip installing aws-cdk-lib.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.synth

ROOT = Path(__file__).resolve().parents[2]


def clean_copy(destination: Path) -> Path:
    """The files a clone would hold: tracked and new files, none that .gitignore excludes."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the work tree is still listed until committed
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def user_environment(tmp_path: Path) -> dict[str, str]:
    """A shell as a user has it: no project venv, no PYTHONPATH, Node.js on PATH."""
    repo_dirs = {str(ROOT / ".venv" / "bin"), str(ROOT / "node_modules" / ".bin")}
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d not in repo_dirs]
    node = shutil.which("node")
    assert node, "Node.js is needed to synthesize (jsii runs on it)"
    node_dir = tmp_path / "node-bin"
    node_dir.mkdir()
    (node_dir / "node").symlink_to(node)  # only node: not the repo venv's python or pip
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CDK_OUTDIR")
    }
    env["PATH"] = os.pathsep.join([str(node_dir), *path])
    return env


def test_venv_requirements_and_the_cdk_json_app_command_synthesize(tmp_path: Path) -> None:
    repo = clean_copy(tmp_path / "clone")
    app_command = json.loads((repo / "cdk.json").read_text())["app"]
    outdir = tmp_path / "cdk.out"
    python = Path(sys.executable).resolve()  # the interpreter that runs the tests, outside venvs
    script = (
        f"set -e\n{python} -m venv .venv\nsource .venv/bin/activate\n"
        "pip install --quiet -r requirements.txt\n"
        "python -c 'import image_lookup; print(image_lookup.__file__)'\n"
        f"CDK_OUTDIR={outdir} {app_command}\n"
    )
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=repo,
        env=user_environment(tmp_path),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # the handler package comes from the copy (editable), not from this repo or a wheel
    assert result.stdout.splitlines()[0] == str(repo / "lambda" / "image_lookup" / "__init__.py")
    for stack in ("GoldenImagePipeline", "GoldenRecipeL2"):
        template = json.loads((outdir / f"{stack}.template.json").read_text())
        assert any(r["Type"] == "Custom::LatestImageBuild" for r in template["Resources"].values())
