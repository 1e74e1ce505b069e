#!/usr/bin/env python3
"""Example app: pin the newest Amazon Linux base image in an Image Builder recipe and pipeline.

``make synth`` synthesizes it into cdk.out/.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks

from example.golden_image_stack import GoldenImagePipelineStack
from example.golden_recipe_l2_stack import GoldenRecipeL2Stack
from example.rollout_stack import RolloutStack


def build_app(outdir: str | None = None, context: dict[str, Any] | None = None) -> cdk.App:
    """The example app with cdk-nag's AWS Solutions rules checking it at synth."""
    app = cdk.App(outdir=outdir, context=context)
    GoldenImagePipelineStack(app, "GoldenImagePipeline")
    GoldenRecipeL2Stack(app, "GoldenRecipeL2")
    RolloutStack(app, "GoldenRollout")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
