"""A second example stack: the pinned base image in an aws_imagebuilder_alpha (L2) recipe."""

from __future__ import annotations

from typing import Any

from aws_cdk import Fn, Stack
from aws_cdk import aws_imagebuilder_alpha as imagebuilder_alpha
from constructs import Construct

from constructs_lib import ImageOwner, LatestImageBuild


class GoldenRecipeL2Stack(Stack):
    """An L2 image recipe on top of the newest Amazon Linux 2023 build."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        """Define the lookup and the recipe."""
        super().__init__(scope, id, **kwargs)
        base = LatestImageBuild(
            self,
            "BaseImage",
            image_name="Amazon Linux 2023 x86",
            owner=ImageOwner.AMAZON,
            refresh_on_every_deploy=False,
        )
        # A recipe is immutable: as in the L1 example, the name carries the parent's build
        # number and the version is the parent's, so a new pin never collides.
        imagebuilder_alpha.ImageRecipe(
            self,
            "Recipe",
            base_image=base.to_base_image(),
            image_recipe_name=Fn.join(
                "-", ["golden-al2023-l2", Fn.select(1, Fn.split("/", base.build_version))]
            ),
            image_recipe_version=base.version,
            components=[
                imagebuilder_alpha.ComponentConfiguration(
                    component=imagebuilder_alpha.AmazonManagedComponent.update_os(
                        self, "UpdateOs", platform=imagebuilder_alpha.Platform.LINUX
                    )
                )
            ],
        )
