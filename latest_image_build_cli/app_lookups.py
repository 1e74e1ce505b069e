"""Find the locked lookups of a CDK app: synthesize it as ``cdk synth`` would, read the assembly.

A lookup in lock mode records its query as construct metadata (``constructs_lib.lock_file``);
under the discovery context it takes placeholders instead of failing, so an app whose lock
file is missing or stale still synthesizes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from constructs_lib.lock_file import (
    DISCOVERY_CONTEXT,
    LOCK_FILE_CONTEXT,
    LOOKUP_METADATA,
    LockFileError,
    StackPlace,
)
from latest_image_build_cli.cli_errors import CommandError

CDK_JSON = "cdk.json"
#: Where the CDK CLI caches context lookups; it passes them to the app with cdk.json's.
CDK_CONTEXT_JSON = "cdk.context.json"
MANIFEST = "manifest.json"
STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY_ARTIFACT = "cdk:cloud-assembly"
#: A traceback's last line: ``module.ClassName: message``.
_RAISED = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.*)$")


class FoundLookup(NamedTuple):
    """A locked lookup as the app recorded it."""

    path: str
    lock_file: str
    query: dict[str, Any]
    stack: StackPlace


class AppLookups(NamedTuple):
    """Every locked lookup of an app, and the lock file the app names (if it says)."""

    lookups: tuple[FoundLookup, ...]
    lock_file: str | None


def find_lookups(app: str | None, lock_file: str | None, directory: Path) -> AppLookups:
    """The app's locked lookups. ``app``: a command or a cloud assembly directory (default:
    cdk.json's ``app``); ``lock_file``: passed to the app as its lock file when given."""
    settings = _read_json(directory / CDK_JSON) or {}
    app = app or settings.get("app")
    if not isinstance(app, str) or not app.strip():
        raise CommandError(
            f"no app: pass --app (a command or a cloud assembly directory), or run where "
            f"{CDK_JSON} names one in 'app' (looked in {directory})"
        )
    context: dict[str, Any] = dict(settings.get("context") or {})
    lookups = (
        read_assembly(directory / app)
        if (directory / app / MANIFEST).is_file()
        else _synthesize(app, directory, context, lock_file)
    )
    recorded = {lookup.lock_file for lookup in lookups}
    named = context.get(LOCK_FILE_CONTEXT)
    return AppLookups(
        tuple(sorted(lookups, key=lambda lookup: lookup.path)),
        lock_file or (min(recorded) if recorded else named if isinstance(named, str) else None),
    )


def _synthesize(
    command: str, directory: Path, context: Mapping[str, Any], lock_file: str | None
) -> list[FoundLookup]:
    """Run the app command with an output directory of its own and discovery on."""
    merged = {
        **(_read_json(directory / CDK_CONTEXT_JSON) or {}),
        **context,
        DISCOVERY_CONTEXT: "true",
    }
    if lock_file is not None:
        merged[LOCK_FILE_CONTEXT] = lock_file
    with tempfile.TemporaryDirectory(prefix="latest-image-build-lock-") as outdir:
        # How the CDK CLI hands an app its output directory and context (aws-cdk-lib's
        # cx-api: CDK_OUTDIR, CDK_CONTEXT_JSON); like the CLI, the command runs in a shell.
        env = {**os.environ, "CDK_OUTDIR": outdir, "CDK_CONTEXT_JSON": json.dumps(merged)}
        result = subprocess.run(
            command,
            shell=True,
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise CommandError(
                f"the app command {shlex.quote(command)} failed (exit {result.returncode})"
                + _failure_line(result.stderr)
            )
        if not (Path(outdir) / MANIFEST).is_file():
            raise CommandError(
                f"the app command {shlex.quote(command)} wrote no cloud assembly: does it "
                "call app.synth()?"
            )
        return read_assembly(Path(outdir))


def _failure_line(stderr: str) -> str:
    """``: ValueError: ...``: the app's exception (a traceback's last line, its class name
    without the module), else its last line of stderr; jsii's Node.js may write after it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        raised = _RAISED.match(line)
        if raised:
            return f": {raised.group(1).rsplit('.', 1)[-1]}: {raised.group(2)}"
    return f": {lines[-1]}" if lines else ""


def read_assembly(directory: Path) -> list[FoundLookup]:
    """Every recorded lookup in a cloud assembly, nested assemblies (stages) included."""
    manifest = _read_json(directory / MANIFEST)
    if manifest is None:
        raise CommandError(f"{directory} is not a cloud assembly: it has no {MANIFEST}")
    found: list[FoundLookup] = []
    for artifact in (manifest.get("artifacts") or {}).values():
        kind = artifact.get("type")
        if kind == NESTED_ASSEMBLY_ARTIFACT:
            found += read_assembly(directory / artifact["properties"]["directoryName"])
        elif kind == STACK_ARTIFACT:
            for path, entries in _stack_metadata(directory, artifact):
                found += [
                    _lookup(path, entry["data"])
                    for entry in entries
                    if entry.get("type") == LOOKUP_METADATA
                ]
    return found


def _stack_metadata(directory: Path, artifact: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """A stack's metadata by construct path: in the manifest, or in its own file (CDK writes
    ``<stack>.metadata.json`` and names it ``additionalMetadataFile``)."""
    yield from (artifact.get("metadata") or {}).items()
    extra = artifact.get("additionalMetadataFile")
    if extra:
        yield from (_read_json(directory / extra) or {}).items()


def _lookup(path: str, data: Any) -> FoundLookup:
    try:
        return FoundLookup(
            path.lstrip("/"),
            str(data["lockFile"]),
            dict(data["query"]),
            StackPlace.from_json(data["stack"]),
        )
    except (KeyError, TypeError, LockFileError) as error:
        raise CommandError(f"lookup {path} recorded unreadable metadata: {error}") from None


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when the file does not exist."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read {path}: {error}") from None
    if not isinstance(value, dict):
        raise CommandError(f"{path} does not hold a JSON object")
    return value
