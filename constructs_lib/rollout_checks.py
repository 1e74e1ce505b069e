"""Synth-time warnings where the pin reaches an Auto Scaling group in a way that cannot roll back.

An instance refresh (CloudFormation's ``AutoScalingInstanceRefresh`` update policy, or
Auto Scaling's own ``AutoRollback``) rolls a group back only to a launch template version
it can name. The Auto Scaling API reference (``RefreshPreferences.AutoRollback``,
``RollbackInstanceRefresh``) lists where that is not supported: a launch template whose
``ImageId`` is a Systems Manager parameter, and a group that uses the template's
``$Latest`` or ``$Default`` version. In both, a new pin also changes no property of the
group, so CloudFormation starts no instance refresh: the new AMI reaches only instances
launched later, and a failed deploy does not bring the previous AMI back.

``watch_rollouts(lookup)`` registers one read-only aspect per stack; at synth it follows
every ``AWS::AutoScaling::AutoScalingGroup`` of the stack to its launch templates and warns
(an acknowledgeable ``Validations`` warning on the group) where the template's image is a
watched pin reached through an SSM parameter, or is the pin and the version floats.

What it can see: launch templates and SSM parameters of the same stack, as their L1
properties hold them (a raw ``add_property_override`` of ``ImageId`` is not seen).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

import jsii
from aws_cdk import (
    AspectPriority,
    Aspects,
    CfnParameter,
    IAspect,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ssm as ssm
from constructs import IConstruct

#: Warning ids (acknowledge with ``Acknowledgment(id="annotation::<id>", reason=...)``).
SSM_PARAMETER_WARNING = "latest-image-build:pin-through-ssm-parameter"
FLOATING_VERSION_WARNING = "latest-image-build:pin-through-floating-version"
FLOATING_VERSIONS = ("$Latest", "$Default")
_RESOLVE_SSM = "resolve:ssm:"
_SSM_PARAMETER_TYPE = re.compile(r"AWS::SSM::Parameter::Value<.+>")


class Pin(IConstruct, Protocol):
    """What the check needs of a lookup: a construct with an AMI attribute."""

    @property
    def ami_id(self) -> str:
        """The pinned AMI (a token or, when locked, a literal)."""
        ...


def watch_rollouts(pin: Pin) -> None:
    """Warn at synth where ``pin``'s AMI reaches an Auto Scaling group of its stack through
    an SSM parameter or a ``$Latest``/``$Default`` launch template version."""
    stack = Stack.of(pin)
    for aspect in Aspects.of(stack).all:
        if isinstance(aspect, RolloutCheck):
            aspect.watch(pin)
            return
    check = RolloutCheck()
    check.watch(pin)
    Aspects.of(stack).add(check, priority=AspectPriority.READONLY)


@jsii.implements(IAspect)
class RolloutCheck:
    """The per-stack aspect behind ``watch_rollouts()``."""

    def __init__(self) -> None:
        self._pins: list[Pin] = []

    def watch(self, pin: Pin) -> None:
        """Add a lookup to the pins this check follows."""
        self._pins.append(pin)

    def visit(self, node: IConstruct) -> None:
        """Check each Auto Scaling group; every other construct is left alone."""
        if isinstance(node, autoscaling.CfnAutoScalingGroup):
            _StackView(Stack.of(node), self._pins).check_group(node)


@dataclass(frozen=True)
class _Route:
    """How one template's image reaches a pin: directly, or through an SSM parameter."""

    pin: Pin
    parameter: str | None = None  # the SSM parameter's name (or path) when through one
    at_deploy: bool = False  # read as a CloudFormation SSM parameter type, not at launch


class _StackView:
    """The stack's pins, their SSM parameters and launch templates, in resolved form."""

    def __init__(self, stack: Stack, pins: list[Pin]) -> None:
        self._stack = stack
        constructs = [c for c in stack.node.find_all() if Stack.of(c).node.path == stack.node.path]
        self._routes: dict[str, _Route] = {}
        parameter_names: dict[str, _Route] = {}
        for pin in pins:
            ami = stack.resolve(pin.ami_id)
            if ami not in ("", None):
                self._routes[_key(ami)] = _Route(pin)
        for published in (c for c in constructs if isinstance(c, ssm.CfnParameter)):
            direct = self._routes.get(_key(stack.resolve(published.value)))
            if direct is None or direct.parameter is not None:
                continue
            shown = published.name if _literal(published.name) else _shown_path(published)
            route = _Route(direct.pin, shown)
            for name in (published.name, published.ref):
                if name is not None:
                    self._routes[self._key_of(_RESOLVE_SSM + name)] = route
                    parameter_names[self._key_of(name)] = route
        # ec2.MachineImage.from_ssm_parameter(): a CloudFormation parameter of an SSM type
        for read in (c for c in constructs if isinstance(c, CfnParameter)):
            through = parameter_names.get(self._key_of(read.default))
            if through is not None and _SSM_PARAMETER_TYPE.fullmatch(read.type):
                at_deploy = _Route(through.pin, through.parameter, at_deploy=True)
                self._routes[self._key_of(read.value_as_string)] = at_deploy
        self._templates = [c for c in constructs if isinstance(c, ec2.CfnLaunchTemplate)]

    def check_group(self, group: autoscaling.CfnAutoScalingGroup) -> None:
        """Warn on ``group`` for each launch template that carries a pin unsafely."""
        warnings: dict[str, str] = {}  # message -> id: one warning per distinct finding
        for specification in self._specifications(group):
            template = self._template(specification)
            route = None if template is None else self._route(template)
            if template is None or route is None:
                continue
            lookup, shown = route.pin.node.path, _shown_path(template)
            if route.parameter is not None:
                warnings[_ssm_message(lookup, route, shown)] = SSM_PARAMETER_WARNING
            version = _get(specification, "version")
            if version in FLOATING_VERSIONS:
                message = (
                    f"launch template {shown} carries the pin of {lookup} at "
                    f"version {version}: a new pin changes no property of this group, so "
                    "CloudFormation starts no instance refresh, and Auto Scaling cannot roll "
                    f"back to {version} (RefreshPreferences.AutoRollback). Use the template's "
                    "LatestVersionNumber, as AutoScalingGroup(launch_template=...) does."
                )
                warnings[message] = FLOATING_VERSION_WARNING
        for message, warning_id in warnings.items():
            Validations.of(group).add_warning(warning_id, message)

    def _specifications(self, group: autoscaling.CfnAutoScalingGroup) -> list[Any]:
        """The launch template specifications of ``group`` (plain and mixed-instances)."""
        found = [self._stack.resolve(group.launch_template)]
        mixed = self._stack.resolve(group.mixed_instances_policy)
        launch_template = _get(mixed, "launchTemplate")
        found.append(_get(launch_template, "launchTemplateSpecification"))
        for override in _get(launch_template, "overrides") or []:
            found.append(_get(override, "launchTemplateSpecification"))
        return [spec for spec in found if isinstance(spec, dict)]

    def _template(self, specification: Any) -> ec2.CfnLaunchTemplate | None:
        wanted = {
            _key(value)
            for value in (
                _get(specification, "launchTemplateId"),
                _get(specification, "launchTemplateName"),
            )
            if value is not None
        }
        for template in self._templates:
            names = [template.ref, template.attr_launch_template_id, template.launch_template_name]
            if wanted & {self._key_of(name) for name in names if name is not None}:
                return template
        return None

    def _route(self, template: ec2.CfnLaunchTemplate) -> _Route | None:
        image = _get(self._stack.resolve(template.launch_template_data), "imageId")
        if image is None:
            return None
        route = self._routes.get(_key(image))
        if route is None and isinstance(image, str) and image.startswith(_RESOLVE_SSM):
            # resolve:ssm:<name>:<version> names a version of the parameter: still the parameter
            name, _, version = image.rpartition(":")
            if version.isdigit():
                route = self._routes.get(_key(name))
        return route

    def _key_of(self, value: Any) -> str:
        return _key(self._stack.resolve(value))


def _ssm_message(lookup: str, route: _Route, template: str) -> str:
    if route.at_deploy:
        return (
            f"launch template {template} reads the pin of {lookup} from SSM parameter "
            f"{route.parameter} as a CloudFormation parameter: CloudFormation reads it when a "
            "deploy starts, before this stack writes the new pin, so the group runs one pin "
            "behind (and the stack's first deploy fails: the parameter does not exist yet). "
            "Use the lookup's machine_image() in the launch template."
        )
    return (
        f"launch template {template} takes the pin of {lookup} through SSM parameter "
        f"{route.parameter} (resolve:ssm:): a new pin changes no launch template, so no "
        "instance refresh rolls it out, and Auto Scaling cannot roll back a launch template "
        "whose ImageId is an SSM parameter (RefreshPreferences.AutoRollback). Use the "
        "lookup's machine_image() in the launch template."
    )


def _shown_path(construct: IConstruct) -> str:
    """The path users wrote: an L2's path for its own L1 (not ``.../Resource``)."""
    # jsii gives a new proxy per call for objects made in JavaScript: compare paths, not identity
    scope = construct.node.scope
    default_child = None if scope is None else scope.node.default_child
    if (
        scope is not None
        and default_child is not None
        and default_child.node.path == construct.node.path
    ):
        return scope.node.path
    return construct.node.path


def _get(value: Any, key: str) -> Any:
    """``value[key]`` of a resolved L1 struct (camelCase), or of a raw property (PascalCase)."""
    if not isinstance(value, dict):
        return None
    return value.get(key, value.get(key[0].upper() + key[1:]))


def _key(resolved: Any) -> str:
    return json.dumps(resolved, sort_keys=True)


def _literal(value: str | None) -> bool:
    return value is not None and not Token.is_unresolved(value)
