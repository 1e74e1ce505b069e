"""Synthesize a CDK app in-process into a folder, as ``cdk synth`` would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk

REPO = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    """The feature flags of the example app's cdk.json, as a real app would have them."""
    import json

    context: dict[str, Any] = json.loads((REPO / "cdk.json").read_text())["context"]
    return context


def synth_app(outdir: Path, build: Callable[[cdk.App], None], **context: Any) -> Path:
    """Build an app with ``build`` and synthesize it into ``outdir``; ``context`` overrides."""
    app = cdk.App(outdir=str(outdir), context={**cdk_json_context(), **context})
    build(app)
    app.synth()
    return outdir
