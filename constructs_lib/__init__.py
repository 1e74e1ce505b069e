"""AWS CDK constructs that pin the newest good EC2 Image Builder build of a version range."""

from constructs_lib.check_role import CheckReadRole as CheckReadRole
from constructs_lib.image_factory import ImageFactory
from constructs_lib.image_factory_events import ImageFactoryEvents, ImageFactoryEventsPolicy
from constructs_lib.latest_image_build import LatestImageBuild
from image_lookup.contract import ImageOwner, ImageType

__all__ = [
    "ImageFactory",
    "ImageFactoryEvents",
    "ImageFactoryEventsPolicy",
    "ImageOwner",
    "ImageType",
    "LatestImageBuild",
]
__version__ = "0.4.0"
