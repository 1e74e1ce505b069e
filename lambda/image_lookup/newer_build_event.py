"""The "newer build" event and the evaluator's input: names shared by construct and evaluator.

``LatestImageBuild.on_newer_build()`` writes the evaluator's input (the keys below)
into its EventBridge targets, and returns a rule that matches the event the
evaluator (``image_lookup.newer_build``) puts on the default bus. No AWS SDK here:
the construct imports this module at synth.
"""

from __future__ import annotations

#: ``source`` of the event the evaluator puts on the default event bus.
SOURCE = "latest-image-build"
#: ``detail-type`` of that event.
DETAIL_TYPE = "Newer Image Build Available"

#: Image Builder's own event when a build changes state (Image Builder User Guide,
#: "Amazon EventBridge integration in Image Builder", "EC2 Image Builder Image State Change").
IMAGE_BUILDER_SOURCE = "aws.imagebuilder"
IMAGE_STATE_CHANGE = "EC2 Image Builder Image State Change"


class InputKey:
    """Keys of the evaluator's input (the rule targets' constant input)."""

    LOOKUP = "Lookup"  # the lookup's custom resource properties
    PINNED_BUILD_ARN = "PinnedBuildArn"  # the stack's current pin
    STACK = "Stack"
    CONSTRUCT_PATH = "ConstructPath"
    #: present when an Image Builder event triggered the evaluation (``TriggerKey``)
    TRIGGER = "Trigger"


class TriggerKey:
    """Keys of ``InputKey.TRIGGER``: the triggering event's fields (EventBridge input paths)."""

    ACCOUNT = "account"  # the account that emitted it: the image's, when forwarded too
    REGION = "region"
    RESOURCES = "resources"  # Image Builder puts the build's ARN here


#: Where each ``TriggerKey`` is in the event (EventBridge "event structure" fields).
TRIGGER_PATHS = {
    TriggerKey.ACCOUNT: "$.account",
    TriggerKey.REGION: "$.region",
    TriggerKey.RESOURCES: "$.resources",
}


class DetailKey:
    """Keys of the event's ``detail``; every value is a string."""

    STACK = "stack"
    CONSTRUCT_PATH = "constructPath"
    IMAGE_NAME = "imageName"
    PINNED_BUILD_ARN = "pinnedBuildArn"
    PINNED_BUILD_VERSION = "pinnedBuildVersion"
    NEWER_BUILD_ARN = "newerBuildArn"
    NEWER_BUILD_VERSION = "newerBuildVersion"
    REGION = "region"
    AMI_ID = "amiId"
    CONTAINER_IMAGE_URI = "containerImageUri"
    DATE_CREATED = "dateCreated"
