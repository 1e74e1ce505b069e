"""Failures a lookup can end in, each carrying a short, one-line reason.

CloudFormation shows the exception text as the stack event's reason and caps
the whole custom resource response at 4 KB, so every message is folded onto
one line and cut to ``MAX_REASON_LENGTH`` characters.
"""

from __future__ import annotations

MAX_REASON_LENGTH = 1000


def one_line(text: str, limit: int = MAX_REASON_LENGTH) -> str:
    """Fold whitespace (newlines included) to single spaces and cut to ``limit`` characters."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 3] + "..."


def show_value(value: object, limit: int = 80) -> str:
    """Quote a user-supplied value for a message, shortened so the message stays short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class ImageLookupError(Exception):
    """Base of every lookup failure; ``str(error)`` is the one-line reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(one_line(reason))

    @property
    def reason(self) -> str:
        """The one-line reason shown to the user."""
        return str(self.args[0])


class InvalidInputError(ImageLookupError, ValueError):
    """A property or argument is malformed; raised before any API call."""


class NoMatchingImageError(ImageLookupError):
    """No build of the image satisfies the selector and filters."""


class AmbiguousImageError(ImageLookupError):
    """Several accounts own an image of the requested name, and no image_account says which."""


class NoAmiError(NoMatchingImageError):
    """The pinned build has no AMI in the deploy region, and the lookup must give one."""


class NoContainerError(NoMatchingImageError):
    """The pinned build has no container image in the deploy region, and the lookup needs one."""


class AccessDeniedError(ImageLookupError):
    """The caller lacks an IAM permission that the lookup needs."""


class ServiceError(ImageLookupError):
    """The service failed, answered something unusable, or kept throttling."""


class DeadlineExceededError(ServiceError):
    """The lookup stopped because the function's remaining time ran low."""
