"""The command line as users run it: a subprocess, pointed at local endpoints by environment.

``fake`` (tests/conftest.py) is the local Image Builder; ``moto`` is moto's server
(CloudFormation, EC2, STS), reset before each test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_endpoints.imagebuilder import FakeImageBuilder
from local_endpoints.moto_services import MotoServices

ROOT = Path(__file__).resolve().parents[2]


class Cli:
    """Runs ``python -m latest_image_build_cli`` with an environment of local endpoints."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd

    def __call__(
        self, *args: str, unset: tuple[str, ...] = (), **overrides: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the command; ``unset`` drops variables, ``overrides`` sets them."""
        env = {k: v for k, v in self.env.items() if k not in unset}
        env.update(overrides)
        return subprocess.run(
            [sys.executable, "-m", "latest_image_build_cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.cwd,
            timeout=120,
            check=False,
        )


def base_environment() -> dict[str, str]:
    """This process's environment without any AWS setting, with the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lambda"), str(ROOT)])
    return env


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServices]:
    services = MotoServices().start()
    yield services
    services.stop()


@pytest.fixture
def moto(moto_server: MotoServices) -> MotoServices:
    moto_server.reset()
    return moto_server


@pytest.fixture
def cli(fake: FakeImageBuilder, tmp_path: Path) -> Cli:
    """The command against the local Image Builder only."""
    return Cli({**base_environment(), **fake.client_environment()}, tmp_path)


@pytest.fixture
def stack_cli(fake: FakeImageBuilder, moto: MotoServices, tmp_path: Path) -> Cli:
    """The command against moto's CloudFormation and EC2 and the local Image Builder."""
    env = {**base_environment(), **moto.client_environment(), **fake.client_environment()}
    return Cli(env, tmp_path)


def one_line_failure(result: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert the command failed with ``code`` and exactly one stderr line; return it."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("latest-image-build: "), lines
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]
