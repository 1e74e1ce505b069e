"""``LatestImageBuild``: pin the newest AVAILABLE EC2 Image Builder build of a version range."""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from enum import Enum
from types import ModuleType
from typing import TYPE_CHECKING, Any

from aws_cdk import CfnResource, CustomResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_imagebuilder as imagebuilder
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from constructs_lib import protection
from constructs_lib._validation import (
    canonical_platform,
    check_min_age,
    check_props,
    warn_on_name_spelling,
)
from constructs_lib.consumers import PinnedContainerImage, PinnedMachineImage
from constructs_lib.locked_pin import LockedPin
from constructs_lib.lookup_provider import LookupProvider
from constructs_lib.newer_build import DAILY, watch_newer_builds
from constructs_lib.rollout_checks import watch_rollouts
from image_lookup import contract
from image_lookup.contract import (
    DEFAULT_SELECTOR,
    HANDLER_TIMEOUT_SECONDS,
    RESOURCE_TYPE,
    Attribute,
    ImageOwner,
    ImageType,
)

if TYPE_CHECKING:
    from aws_cdk import aws_imagebuilder_alpha

_OWNER_VALUES = frozenset(owner.value for owner in ImageOwner)
_OWNERS_BY_FOLDED_VALUE = {owner.value.casefold(): owner.value for owner in ImageOwner}
_OS_TYPES = {"Linux": ec2.OperatingSystemType.LINUX, "Windows": ec2.OperatingSystemType.WINDOWS}
ALPHA_EXTRA_HINT = (
    "needs the optional aws-cdk.aws-imagebuilder-alpha package: "
    "pip install aws-cdk.aws-imagebuilder-alpha (the same version as aws-cdk-lib, with an 'a0' "
    "suffix), or install latest-image-build with its [alpha] extra"
)
#: CloudFormation gives up on the custom resource after this long (its default is 1 hour):
#: the handler's timeout, and two minutes for the Provider framework's function around it.
SERVICE_TIMEOUT = Duration.seconds(HANDLER_TIMEOUT_SECONDS + 120)


class LatestImageBuild(Construct):
    """Resolve, at deploy time, the newest AVAILABLE build of an Image Builder image.

    The build of the highest version matching ``version`` wins; versions whose
    builds all failed, are in progress, deprecated, disabled or deleted are
    skipped. Its build ARN, AMI and the rest are exposed as CloudFormation
    attributes, e.g. for ``CfnImageRecipe(parent_image=...)``.

    One handler function per stack serves every lookup in it.

    Lock mode: when the app's context holds ``latest-image-build:lock-file`` (a path
    relative to the app's directory), every lookup is pinned from that file instead, as
    literals with no custom resource; ``latest-image-build lock`` writes it.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        image_name: str,
        version: str = DEFAULT_SELECTOR,
        owner: ImageOwner | str = ImageOwner.SELF,
        platform: str | None = None,
        os_version: str | None = None,
        image_type: ImageType | str | None = None,
        include_deprecated: bool = False,
        region: str | None = None,
        image_account: str | None = None,
        refresh_on_every_deploy: bool = True,
        refresh_token: str | None = None,
        require_tags: Mapping[str, str] | None = None,
        exclude_tags: Mapping[str, str] | None = None,
        min_age: Duration | None = None,
        protect_pinned_build: bool = False,
    ) -> None:
        """Define a lookup.

        :param image_name: the image's name as Image Builder lists it ("Amazon Linux 2023
            x86") or as its ARNs carry it ("amazon-linux-2023-x86"). Required.
        :param version: selector ``x.x.x``, ``1.x.x``, ``1.2.x`` or ``1.2.3``. Default ``x.x.x``.
        :param owner: ``ImageOwner`` or its API string. Default ``ImageOwner.SELF``.
        :param platform: only images of this platform (``Linux``, ``Windows``, ``macOS``).
            Default: any.
        :param os_version: only images of this OS version, e.g. ``Amazon Linux 2023``.
            Default: any.
        :param image_type: ``ImageType.AMI`` or ``ImageType.DOCKER``. Default: either.
        :param include_deprecated: let DEPRECATED builds win too (own images only; the
            service shows build states only to an image's owner). Default ``False``.
        :param region: the region the image lives in. Default: the stack's region.
        :param image_account: only images owned by this account (12 digits, or ``aws`` for
            Amazon's). Required when several accounts share (``SHARED``, ``THIRD_PARTY``,
            ``AWS_MARKETPLACE``) images of the same name: without it such a lookup fails,
            naming the accounts. Default: the owner's only account.
        :param refresh_on_every_deploy: re-resolve on every deploy. With ``False`` the
            lookup re-resolves only when its properties or ``refresh_token`` change, and
            synth output is byte-identical across runs. Default ``True``.
        :param refresh_token: any value (e.g. a date or a pipeline run id); changing it
            forces a new lookup. Only with ``refresh_on_every_deploy=False``. Default: none.
        :param require_tags: promotion gate: a build qualifies only if it carries every pair
            (exact values; values may be tokens). Default: none.
        :param exclude_tags: a build carrying any of these pairs never qualifies (revocation,
            quarantine). Default: none.
        :param min_age: bake time: a build qualifies only once it was created at least this
            long before the lookup runs (whole seconds). Default: none.

            Gates apply on top of the usual rules. Own images: every build of a version is a
            candidate. Other accounts' images: only each version's newest AVAILABLE build
            (the service shows no other); if it fails a gate, the version is skipped.
        :param protect_pinned_build: report the pin to the pin registry (``ImageFactory``)
            of the account that owns the image (``image_account``, default this stack's), in
            the image's region; the registry tags the build and its AMIs while any stack
            pins them, so lifecycle policies built with ``lifecycle_exclusion_rules()`` keep
            them. The stack renews its pins daily; a pin nobody renews ends with the
            registry's lease. Own and shared images only. Default ``False``.
        :raises ValueError: a literal (non-token) value is invalid; the message names it.
        """
        owner_value = owner.value if isinstance(owner, Enum) else owner
        type_value = image_type.value if isinstance(image_type, Enum) else image_type
        # Check every input before any child construct exists: a bad value leaves nothing behind.
        check_props(
            image_name=image_name,
            version=version,
            owner=owner_value,
            image_type=type_value,
            platform=platform,
            os_version=os_version,
            region=region,
            image_account=image_account,
            include_deprecated=include_deprecated,
            refresh_on_every_deploy=refresh_on_every_deploy,
            require_tags=require_tags,
            exclude_tags=exclude_tags,
            protect_pinned_build=protect_pinned_build,
        )
        min_age_seconds = check_min_age(min_age)
        platform = canonical_platform(platform)  # any case; the template has the API's spelling
        if protect_pinned_build:
            protection.check_protection(owner=owner_value, image_account=image_account)
        if owner_value.casefold() in _OWNERS_BY_FOLDED_VALUE:
            # owner strings are case-insensitive: the template carries the API's spelling
            owner_value = _OWNERS_BY_FOLDED_VALUE[owner_value.casefold()]
        if refresh_token is not None and refresh_on_every_deploy:
            raise ValueError(
                f"refresh_token={refresh_token!r} has no effect while refresh_on_every_deploy "
                "is True; pass refresh_on_every_deploy=False to refresh only on changes"
            )
        super().__init__(scope, id)
        warn_on_name_spelling(self, image_name)
        self._platform = platform
        self._image_type = type_value
        self._parameters = 0

        properties = {
            contract.IMAGE_NAME.key: image_name,
            contract.VERSION_SELECTOR.key: version,
            contract.OWNER.key: owner_value,
            contract.PLATFORM.key: platform,
            contract.OS_VERSION.key: os_version,
            contract.IMAGE_TYPE.key: type_value,
            contract.INCLUDE_DEPRECATED.key: "true" if include_deprecated else None,
            contract.REGION.key: region,
            contract.IMAGE_ACCOUNT.key: image_account,
            contract.REFRESH_TOKEN.key: (
                str(time.time_ns()) if refresh_on_every_deploy else refresh_token
            ),
            contract.REQUIRE_TAGS.key: dict(require_tags) if require_tags else None,
            contract.EXCLUDE_TAGS.key: dict(exclude_tags) if exclude_tags else None,
            contract.MIN_AGE_SECONDS.key: min_age_seconds,
            contract.PROTECT_PINNED_BUILD.key: "true" if protect_pinned_build else None,
        }
        # A locked pin (the app's context names a lock file: literals, no custom resource,
        # no provider) or a deployed lookup.
        self._locked = LockedPin.for_lookup(
            self, properties, protect_pinned_build=protect_pinned_build
        )
        self._resource: CustomResource | None = None
        if self._locked is None:
            provider = LookupProvider.of(Stack.of(self))
            provider.allow_lookup(
                # a valid owner that is not one of the API strings is a token: known at deploy
                owner=owner_value if owner_value in _OWNER_VALUES else None,
                region=region,
                image_account=image_account,
                include_deprecated=include_deprecated,
                gated=bool(require_tags or exclude_tags or min_age_seconds),
            )
            self._resource = CustomResource(
                self,
                "Resource",
                service_token=provider.service_token,
                resource_type=RESOURCE_TYPE,
                properties={key: value for key, value in properties.items() if value is not None},
                service_timeout=SERVICE_TIMEOUT,
            )
            if protect_pinned_build:
                cfn_resource = self._resource.node.default_child
                assert isinstance(cfn_resource, CfnResource)
                provider.allow_protection(cfn_resource, region=region, image_account=image_account)
        self._lookup_properties = properties
        watch_rollouts(self)

    def on_newer_build(
        self,
        id: str,
        *,
        target: events.IRuleTarget | None = None,
        schedule: events.Schedule | None = DAILY,
    ) -> events.Rule:
        """An EventBridge rule that fires when a build newer than the pin qualifies.

        "Qualifies" means what a deploy would pin: the selector, filters and promotion
        gates of this lookup. A function of the stack's own evaluates on Image Builder's
        "Image State Change" events for this account's builds of the image, and on
        ``schedule``; when the winner is newer than the pin it puts an event (source
        ``latest-image-build``, detail-type ``Newer Image Build Available``) on the
        default bus, which this rule matches for this lookup only.

        :param id: the rule's construct id, under this lookup.
        :param target: where the rule sends the event. Default: none (``rule.add_target``).
        :param schedule: also evaluate on this schedule (EventBridge delivers Image
            Builder's events best effort, ``min_age`` passes later, other accounts'
            images send no events here). ``None``: only on events. Default: daily.
        :raises ValueError: ``schedule=None`` for a lookup no event can reach.
        """
        return watch_newer_builds(
            self,
            id,
            properties=self._lookup_properties,
            pinned_build_arn=self.image_build_version_arn,
            target=target,
            schedule=schedule,
        )

    @property
    def image_build_version_arn(self) -> str:
        """Build ARN, ``arn:...:image/name/1.2.3/4`` (also what ``Ref`` returns)."""
        return self._attribute(Attribute.IMAGE_BUILD_VERSION_ARN)

    @property
    def image_version_arn(self) -> str:
        """Version ARN, ``arn:...:image/name/1.2.3``."""
        return self._attribute(Attribute.IMAGE_VERSION_ARN)

    @property
    def version(self) -> str:
        """Semantic version as the service wrote it, ``1.2.3`` or ``2019.12.03``."""
        return self._attribute(Attribute.VERSION)

    @property
    def build_version(self) -> str:
        """Build version, ``1.2.3/4``."""
        return self._attribute(Attribute.BUILD_VERSION)

    @property
    def ami_id(self) -> str:
        """AMI id in the stack's region ("" for containers or when not distributed there)."""
        return self._attribute(Attribute.AMI_ID)

    @property
    def container_image_uri(self) -> str:
        """First container image URI in the stack's region ("" for AMIs)."""
        return self._attribute(Attribute.CONTAINER_IMAGE_URI)

    @property
    def platform(self) -> str:
        """``Linux``, ``Windows`` or ``macOS``."""
        return self._attribute(Attribute.PLATFORM)

    @property
    def os_version(self) -> str:
        """OS version, e.g. ``Amazon Linux 2023``."""
        return self._attribute(Attribute.OS_VERSION)

    @property
    def image_type(self) -> str:
        """``AMI`` or ``DOCKER``."""
        return self._attribute(Attribute.IMAGE_TYPE)

    @property
    def date_created(self) -> str:
        """When the build was created, as the service reports it."""
        return self._attribute(Attribute.DATE_CREATED)

    def machine_image(
        self,
        *,
        os_type: ec2.OperatingSystemType | None = None,
        user_data: ec2.UserData | None = None,
    ) -> ec2.IMachineImage:
        """The pinned AMI (in the stack's region) for instances, launch templates and ASGs.

        The deploy fails, naming the build and the region, when the pinned build has no
        AMI there.

        :param os_type: the image's OS. Default: from a literal ``platform`` (Linux or
            Windows); required otherwise.
        :param user_data: Default: empty user data for the OS, as aws-cdk-lib's own
            machine images give.
        :raises ValueError: ``image_type`` is ``DOCKER``, or the OS cannot be known.
        """
        self._check_image_type(ImageType.AMI, "machine_image()")
        image = PinnedMachineImage(self.ami_id, self._os_type(os_type), user_data)
        self._require_output(contract.REQUIRE_AMI)
        return image

    def container_image(self) -> ecs.ContainerImage:
        """The pinned container image for ECS task definitions.

        The task's execution role may pull it: ``ecr:GetAuthorizationToken`` and the ECR
        pull actions on the repositories of the registry its URI names.

        The deploy fails, naming the build and the region, when the pinned build has no
        container image there.

        :raises ValueError: ``image_type`` is ``AMI``.
        """
        self._check_image_type(ImageType.DOCKER, "container_image()")
        image = PinnedContainerImage(self.container_image_uri)
        self._require_output(contract.REQUIRE_CONTAINER)
        return image

    def to_base_image(self) -> aws_imagebuilder_alpha.BaseImage:
        """The pinned build as the parent of an ``aws_imagebuilder_alpha.ImageRecipe``.

        :raises ImportError: the optional ``[alpha]`` extra is not installed.
        :raises ValueError: ``image_type`` is ``DOCKER``.
        """
        base: aws_imagebuilder_alpha.BaseImage = self._alpha_parent(
            "to_base_image()", ImageType.AMI, "BaseImage"
        )
        return base

    def to_container_base_image(self) -> aws_imagebuilder_alpha.BaseContainerImage:
        """The pinned build as the parent of an ``aws_imagebuilder_alpha.ContainerRecipe``.

        :raises ImportError: the optional ``[alpha]`` extra is not installed.
        :raises ValueError: ``image_type`` is ``AMI``.
        """
        base: aws_imagebuilder_alpha.BaseContainerImage = self._alpha_parent(
            "to_container_base_image()", ImageType.DOCKER, "BaseContainerImage"
        )
        return base

    def publish_parameter(
        self, parameter_name: str, *, description: str | None = None
    ) -> ssm.StringParameter:
        """Publish the pinned AMI as an SSM parameter of data type ``aws:ec2:image``.

        Launch templates (``resolve:ssm:``), Image Builder recipes and scripts can then
        follow the pin. The deploy fails, naming the build and the region, when the
        pinned build has no AMI in the stack's region.

        :param parameter_name: the parameter's name, e.g. ``/golden/prod/ami``.
        :param description: Default: none.
        :raises ValueError: ``image_type`` is ``DOCKER``.
        """
        self._check_image_type(ImageType.AMI, "publish_parameter()")
        self._parameters += 1
        parameter = ssm.StringParameter(
            self,
            "Parameter" if self._parameters == 1 else f"Parameter{self._parameters}",
            parameter_name=parameter_name,
            string_value=self.ami_id,
            data_type=ssm.ParameterDataType.AWS_EC2_IMAGE,
            description=description,
        )
        self._require_output(contract.REQUIRE_AMI)
        return parameter

    def _alpha_parent(self, method: str, needed: ImageType, class_name: str) -> Any:
        """``aws_imagebuilder_alpha.<class_name>.from_string(build ARN)``, after the checks."""
        self._check_image_type(needed, method)
        parent_class = getattr(_imagebuilder_alpha(method), class_name)
        return parent_class.from_string(self.image_build_version_arn)

    def _check_image_type(self, needed: ImageType, method: str) -> None:
        if self._image_type in (ImageType.AMI.value, ImageType.DOCKER.value) and (
            self._image_type != needed.value
        ):
            raise ValueError(
                f"{method} needs image_type {needed.value!r}, "
                f"but image_type is {self._image_type!r}"
            )

    @staticmethod
    def lifecycle_exclusion_rules(
        resource_type: str = protection.AMI_IMAGE,
    ) -> imagebuilder.CfnLifecyclePolicy.ExclusionRulesProperty:
        """Exclusion rules for ``CfnLifecyclePolicy`` that keep every build a lookup with
        ``protect_pinned_build=True`` pins, whichever stack pins it (one policy serves the
        account): the image ``tag_map`` and, for ``AMI_IMAGE`` (default), the AMI one.
        ``resource_type``: the policy's, ``AMI_IMAGE`` or ``CONTAINER_IMAGE``."""
        return protection.lifecycle_exclusion_rules(resource_type)

    def _os_type(self, os_type: ec2.OperatingSystemType | None) -> ec2.OperatingSystemType:
        from_platform = _OS_TYPES.get(self._platform) if isinstance(self._platform, str) else None
        if os_type is None and from_platform is None:
            raise ValueError(
                f"machine_image() needs os_type=ec2.OperatingSystemType.LINUX or WINDOWS: "
                f"platform={self._platform!r} does not tell the image's OS at synth"
            )
        if os_type is not None and from_platform is not None and os_type != from_platform:
            raise ValueError(
                f"machine_image(os_type={os_type}) contradicts platform={self._platform!r}"
            )
        chosen = os_type or from_platform
        assert chosen is not None
        return chosen

    def _require_output(self, flag: contract.Property) -> None:
        """Make the lookup fail at deploy, with a clear reason, when the build has no AMI
        (``REQUIRE_AMI``) or container image (``REQUIRE_CONTAINER``) in the stack's region.
        A locked pin was checked for it by the lock command, or fails synth now."""
        self._lookup_properties[flag.key] = "true"  # on_newer_build()'s evaluator asks it too
        if self._locked is not None:
            self._locked.require(flag)
            return
        assert self._resource is not None
        cfn_resource = self._resource.node.default_child
        assert isinstance(cfn_resource, CfnResource)
        cfn_resource.add_property_override(flag.key, "true")

    def _attribute(self, attribute: str) -> str:
        if self._locked is not None:
            return self._locked.attribute(attribute)
        assert self._resource is not None
        return self._resource.get_att_string(attribute)

    @property
    def resource(self) -> CustomResource:
        """The underlying ``Custom::LatestImageBuild`` resource.

        :raises RuntimeError: the app is in lock mode, where the pin is literals from the
            lock file and there is no custom resource.
        """
        if self._resource is None:
            raise RuntimeError(
                f"LatestImageBuild {self.node.path} is pinned from its lock file (lock mode): "
                "it has no custom resource; use its attributes and methods"
            )
        return self._resource


def _imagebuilder_alpha(method: str) -> ModuleType:
    """``aws_cdk.aws_imagebuilder_alpha``, imported only when a method needs it."""
    try:
        return importlib.import_module("aws_cdk.aws_imagebuilder_alpha")
    except ImportError as error:
        raise ImportError(f"LatestImageBuild.{method} {ALPHA_EXTRA_HINT}") from error
