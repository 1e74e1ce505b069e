"""Every call this package makes to Amazon EC2: tagging the AMIs of a protected build.

One gateway per region (an AMI lives in one region); retries live in ``retry``,
as for Image Builder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from image_lookup import sdk
from image_lookup.deadline import Deadline
from image_lookup.retry import DEFAULT_RETRY_POLICY, Retrier, RetryPolicy

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

#: What EC2 answers for an AMI that does not exist (any more): deregistered, or never was.
NOT_FOUND_CODES = ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable")
#: The tag Image Builder puts on every AMI it distributes: the build's ARN (Image Builder
#: User Guide, "Tag Image Builder output resources").
BUILD_ARN_TAG = "Ec2ImageBuilderArn"


class Ec2Gateway:
    """Tags and reads AMIs in one region through one client and one retrier."""

    def __init__(self, client: EC2Client, retrier: Retrier) -> None:
        self._client = client
        self._retrier = retrier
        self.region: str = client.meta.region_name

    @classmethod
    def for_region(
        cls, region: str, deadline: Deadline, policy: RetryPolicy = DEFAULT_RETRY_POLICY
    ) -> Ec2Gateway:
        """A gateway with its own client: one SDK attempt per call, bounded timeouts."""
        client: EC2Client = sdk.client("ec2", region, policy, "EC2")
        retrier = Retrier(
            deadline, client.meta.region_name, policy, iam_prefix="ec2", service_title="EC2"
        )
        return cls(client, retrier)

    @property
    def calls(self) -> int:
        """Calls sent so far, retries included."""
        return self._retrier.calls

    def tag_images(self, image_ids: tuple[str, ...], tags: Mapping[str, str]) -> tuple[str, ...]:
        """CreateTags on the AMIs; returns the ids that do not exist (nothing to protect there)."""
        pairs = [{"Key": key, "Value": value} for key, value in tags.items()]
        return self._per_image("create_tags", image_ids, pairs)

    def untag_images(self, image_ids: tuple[str, ...], keys: tuple[str, ...]) -> tuple[str, ...]:
        """DeleteTags of ``keys`` whatever their values; returns the ids that do not exist."""
        return self._per_image("delete_tags", image_ids, [{"Key": key} for key in keys])

    def images_of_build(self, build_arn: str, tag_key: str) -> dict[str, dict[str, str]]:
        """This account's AMIs of ``build_arn`` that carry ``tag_key``: id -> their tags.

        For a build that no longer exists: its AMIs outlive it (DeleteImage "does not
        delete any EC2 AMIs", Image Builder API reference) and are found by the tag
        Image Builder put on them.
        """
        params: dict[str, Any] = {
            "Owners": ["self"],
            "Filters": [
                {"Name": f"tag:{BUILD_ARN_TAG}", "Values": [build_arn]},
                {"Name": "tag-key", "Values": [tag_key]},
            ],
        }
        if self._accepts("DescribeImages", "IncludeDisabled"):
            # a lifecycle policy's DISABLE action hides AMIs from DescribeImages otherwise
            params["IncludeDisabled"] = True
        return {
            str(image["ImageId"]): {
                str(tag.get("Key")): str(tag.get("Value", "")) for tag in image.get("Tags") or ()
            }
            for image in self._describe_images(params)
            if image.get("ImageId")
        }

    def image_id_of_build(self, build_arn: str) -> str:
        """This account's AMI of ``build_arn`` in this region, or ``""``: found by the tag
        Image Builder puts on every AMI it distributes, for when the build is gone."""
        params: dict[str, Any] = {
            "Owners": ["self"],
            "Filters": [{"Name": f"tag:{BUILD_ARN_TAG}", "Values": [build_arn]}],
        }
        image_ids = sorted(
            str(image["ImageId"]) for image in self._describe_images(params) if image.get("ImageId")
        )
        return image_ids[0] if image_ids else ""

    def _describe_images(self, params: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        token: str | None = None
        while True:
            page = self._call(
                "describe_images", {**params, **({"NextToken": token} if token else {})}
            )
            yield from (image for image in page.get("Images") or () if isinstance(image, Mapping))
            token = page.get("NextToken") or None
            if token is None:
                return

    def _per_image(
        self, method: str, image_ids: tuple[str, ...], tags: list[dict[str, str]]
    ) -> tuple[str, ...]:
        """One call for all AMIs; if one is missing, one call each, to find which."""
        if not image_ids:
            return ()
        try:
            self._call(method, {"Resources": list(image_ids), "Tags": tags}, NOT_FOUND_CODES)
            return ()
        except ClientError:
            if len(image_ids) == 1:
                return image_ids
        missing: list[str] = []
        for image_id in image_ids:
            try:
                self._call(method, {"Resources": [image_id], "Tags": tags}, NOT_FOUND_CODES)
            except ClientError:
                missing.append(image_id)
        return tuple(missing)

    def _accepts(self, operation: str, member: str) -> bool:
        """Whether this SDK's model has ``member`` (older bundled SDKs lack newer ones)."""
        shape = self._client.meta.service_model.operation_model(operation).input_shape
        return shape is not None and member in shape.members

    def _call(
        self, method: str, params: dict[str, Any], passthrough_codes: tuple[str, ...] = ()
    ) -> Mapping[str, Any]:
        send: Callable[..., Mapping[str, Any]] = getattr(self._client, method)
        operation = sdk.operation_name(method)
        return self._retrier.call(operation, lambda: send(**params), passthrough_codes)
