"""A second example stack: the pinned base image in an aws_imagebuilder_alpha (L2) recipe."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Stack
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
        # A recipe is immutable: as in the L1 example, the wildcard version "1.0.x" (also
        # the module's default) lets Image Builder number each replacement, so a new pin
        # never collides with the recipe it replaces.
        imagebuilder_alpha.ImageRecipe(
            self,
            "Recipe",
            base_image=base.to_base_image(),
            image_recipe_name=f"golden-al2023-l2-{Aws.STACK_NAME}",
            image_recipe_version="1.0.x",
            components=[
                imagebuilder_alpha.ComponentConfiguration(
                    component=imagebuilder_alpha.AmazonManagedComponent.update_os(
                        self, "UpdateOs", platform=imagebuilder_alpha.Platform.LINUX
                    )
                )
            ],
        )
