"""AWS CDK constructs that pin the newest good EC2 Image Builder build of a version range."""

from constructs_lib.latest_image_build import LatestImageBuild
from image_lookup.contract import ImageOwner, ImageType

__all__ = ["ImageOwner", "ImageType", "LatestImageBuild"]
__version__ = "0.3.0"
