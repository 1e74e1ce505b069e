#!/usr/bin/env python3
"""Example app in lock mode: the production pipeline, pinned from a committed lock file.

Lock mode is a setting of a whole app (the context key ``latest-image-build:lock-file``),
so production is an app of its own next to ``app.py``, whose stacks resolve at deploy. Its
template holds the pins as literals, with no custom resource and no Lambda function, and
synthesizing it needs no AWS account. Run from the repository's root::

    cdk synth --app "python3 -m example.locked_app"          # offline: reads the lock file
    latest-image-build lock --app "python3 -m example.locked_app"   # re-pins, prints changes
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks

from constructs_lib.lock_file import LOCK_FILE_CONTEXT
from example.golden_image_stack import GoldenImagePipelineStack

#: Relative to the directory the app runs in (the repository's root), like cdk.json's paths.
LOCK_FILE = "example/latest-image-build.lock.json"
#: A pin is the AMI one account launches in one region: a locked stack names both.
PRODUCTION = cdk.Environment(account="123456789012", region="us-east-1")


def build_locked_app(outdir: str | None = None, context: dict[str, Any] | None = None) -> cdk.App:
    """The production app in lock mode, with cdk-nag's AWS Solutions rules checking it.

    In an app of your own, put the key in cdk.json's ``context`` instead; here cdk.json
    belongs to ``app.py``.
    """
    app = cdk.App(outdir=outdir, context={LOCK_FILE_CONTEXT: LOCK_FILE, **(context or {})})
    # Lock mode refuses protect_pinned_build (no deploy resolves a locked pin, so nothing
    # would tag it): without it the stack adds no lifecycle policy either. A policy of
    # app.py's stacks in the same account does not spare a locked build: re-lock before
    # it falls out of the five newest.
    GoldenImagePipelineStack(
        app, "GoldenImagePipelineProd", env=PRODUCTION, protect_pinned_build=False
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_locked_app().synth()
