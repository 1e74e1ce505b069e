"""Every call this package makes to EC2 Image Builder, and the paging of its lists.

Retries live in ``retry``, reading answers into models in ``answers``; this
module only decides what to send and follows page tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from image_lookup import answers, sdk
from image_lookup.deadline import Deadline
from image_lookup.errors import ServiceError
from image_lookup.models import ImageBuild, ImageVersionRef
from image_lookup.retry import DEFAULT_RETRY_POLICY, Retrier, RetryPolicy, error_code

if TYPE_CHECKING:
    from mypy_boto3_imagebuilder import ImagebuilderClient

#: Largest page the service serves; fewer pages means fewer calls.
MAX_PAGE_SIZE = 100
#: A listing may be restarted once when the service rejects its own page token.
MAX_LISTING_RESTARTS = 1
NOT_FOUND_CODE = "ResourceNotFoundException"
INVALID_TOKEN_CODE = "InvalidPaginationTokenException"


class ImageBuilderGateway:
    """Reads images from EC2 Image Builder through one client and one retrier."""

    def __init__(self, client: ImagebuilderClient, retrier: Retrier) -> None:
        self._client = client
        self._retrier = retrier
        self.region: str = client.meta.region_name
        self.partition: str = client.meta.partition

    @classmethod
    def for_region(
        cls, region: str | None, deadline: Deadline, policy: RetryPolicy = DEFAULT_RETRY_POLICY
    ) -> ImageBuilderGateway:
        """A gateway with its own client: one SDK attempt per call, bounded timeouts."""
        client: ImagebuilderClient = sdk.client("imagebuilder", region, policy, "Image Builder")
        return cls(client, Retrier(deadline, client.meta.region_name, policy))

    @property
    def calls(self) -> int:
        """Calls sent so far, retries included."""
        return self._retrier.calls

    @property
    def retries(self) -> int:
        """Calls that were retries."""
        return self._retrier.retries

    def image_versions(
        self,
        *,
        owner: str,
        name_filter: str | None,
        filters: tuple[tuple[str, str], ...] = (),
        include_deprecated: bool = False,
    ) -> Iterator[ImageVersionRef]:
        """Yield every version ListImages reports for the owner, name and filters.

        Entries that lack an ARN, a name or a parsable version are skipped; names
        are not checked here (the caller matches them).
        """
        api_filters = [{"name": name, "values": [value]} for name, value in filters]
        if name_filter is not None:
            api_filters.insert(0, {"name": "name", "values": [name_filter]})
        params: dict[str, Any] = {"owner": owner}
        if api_filters:
            params["filters"] = api_filters
        if include_deprecated:
            params["includeDeprecated"] = True
        for item in self._paginate("list_images", "imageVersionList", params):
            ref = answers.version_ref(item)
            if ref is not None:
                yield ref

    def get_image(self, arn: str) -> ImageBuild | None:
        """GetImage on a build, version or wildcard ARN; None when the service finds nothing.

        On a version ARN (``.../1.2.3``) or a wildcard one (``.../1.x.x``) the
        service answers with the newest AVAILABLE build it resolves to (GetImage
        API reference, ``imageBuildVersionArn``).
        """
        try:
            answer = self._call("get_image", {"imageBuildVersionArn": arn}, (NOT_FOUND_CODE,))
        except ClientError:
            return None
        image = answer.get("image")
        return answers.image_build(image) if isinstance(image, Mapping) else None

    def builds(self, version_arn: str) -> Iterator[ImageBuild]:
        """ListImageBuildVersions: every build of a version (only the image's owner sees them)."""
        params = {"imageVersionArn": version_arn}
        for item in self._paginate("list_image_build_versions", "imageSummaryList", params):
            build = answers.image_build(item)
            if build is not None:
                yield build

    def tag_resource(self, arn: str, tags: Mapping[str, str]) -> bool:
        """TagResource: add or overwrite ``tags``; False when the resource does not exist."""
        try:
            self._call("tag_resource", {"resourceArn": arn, "tags": dict(tags)}, (NOT_FOUND_CODE,))
        except ClientError:
            return False
        return True

    def untag_resource(self, arn: str, keys: tuple[str, ...]) -> bool:
        """UntagResource: remove ``keys`` (absent keys are no error); False when the resource
        does not exist."""
        try:
            self._call(
                "untag_resource", {"resourceArn": arn, "tagKeys": list(keys)}, (NOT_FOUND_CODE,)
            )
        except ClientError:
            return False
        return True

    def _paginate(
        self, method: str, result_key: str, params: dict[str, Any]
    ) -> Iterator[Mapping[str, Any]]:
        """Follow nextToken to the end; guard against tokens that repeat.

        After a restart (an expired token) items may be yielded twice; callers
        deduplicate.
        """
        page_size = self._page_size(method)
        restarts = 0
        token: str | None = None
        seen_tokens: set[str] = set()
        pages = 0
        while True:
            page_params = dict(params, maxResults=page_size)
            if token:
                page_params["nextToken"] = token
            try:
                page = self._call(method, page_params, (INVALID_TOKEN_CODE,))
            except ClientError as error:
                if restarts >= MAX_LISTING_RESTARTS or token is None:
                    after_restart = " and a restart of the listing" if restarts else ""
                    raise ServiceError(
                        f"{sdk.operation_name(method)} rejected its own page token "
                        f"({error_code(error)}) after {pages} pages{after_restart}"
                    ) from error
                # The service lets page tokens expire mid-listing: start over once.
                restarts += 1
                token = None
                seen_tokens.clear()
                continue
            pages += 1
            items = page.get(result_key)
            if isinstance(items, list):
                yield from (item for item in items if isinstance(item, Mapping))
            token = page.get("nextToken") or None
            if token is None:
                return
            if token in seen_tokens:
                raise ServiceError(
                    f"{sdk.operation_name(method)} returned a page token it had already returned "
                    f"(after {pages} pages); stopped to avoid an endless listing"
                )
            seen_tokens.add(token)

    def _page_size(self, method: str) -> int:
        """The largest maxResults the SDK's service model allows, up to MAX_PAGE_SIZE.

        Older SDK models (boto3 1.34, bundled by some Lambda runtimes) cap it at 25
        where newer ones allow 100; a request outside the model is never sent.
        """
        model = self._client.meta.service_model.operation_model(sdk.operation_name(method))
        member = model.input_shape.members.get("maxResults") if model.input_shape else None
        limit = member.metadata.get("max", MAX_PAGE_SIZE) if member is not None else MAX_PAGE_SIZE
        return min(MAX_PAGE_SIZE, int(limit))

    def _call(
        self, method: str, params: dict[str, Any], passthrough_codes: tuple[str, ...] = ()
    ) -> Mapping[str, Any]:
        send = getattr(self._client, method)
        return self._retrier.call(
            sdk.operation_name(method), lambda: send(**params), passthrough_codes
        )
