"""Every Python snippet in README.md synthesizes, as written.

A snippet runs with ``app`` (a ``cdk.App``) and ``self`` (a ``cdk.Stack`` in it) in scope,
as code in a stack's ``__init__`` or an app's entry point would have them; then the app
is synthesized, with cdk-nag's checks as the example app runs them.
"""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
import pytest

pytestmark = pytest.mark.synth

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_synthesizes(index: int, tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(
        app, "Snippet", env=cdk.Environment(account="123456789012", region="us-east-1")
    )
    exec(
        compile(SNIPPETS[index], f"README.md snippet {index + 1}", "exec"),
        {"app": app, "self": stack},
    )
    assembly = app.synth()
    templates = [artifact.template for artifact in assembly.stacks]
    assert any(
        resource["Type"] == "Custom::LatestImageBuild"
        for template in templates
        for resource in template.get("Resources", {}).values()
    )
