"""A deployed lookup's properties, evaluated from its stack's template and parameter values.

Only what can be known for certain is evaluated: literals, ``Ref`` to a template
parameter (the value DescribeStacks reports, ``ResolvedValue`` for SSM parameter types)
and ``Ref`` to a pseudo parameter. Anything else (``Fn::GetAtt``, ``Fn::Sub``,
``Fn::If``, ``Fn::ImportValue``, ``Ref`` to a resource, a NoEcho or list parameter) is
reported as "cannot evaluate", never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from image_lookup.contract import PROPERTIES, PROTECT_PINNED_BUILD, REFRESH_TOKEN

#: Properties that decide what a lookup resolves (the others change no answer).
LOOKUP_KEYS = tuple(
    prop.key for prop in PROPERTIES if prop not in (REFRESH_TOKEN, PROTECT_PINNED_BUILD)
)
#: ``Ref: AWS::NoValue`` removes the property (CloudFormation User Guide, pseudo parameters).
NO_VALUE = "AWS::NoValue"


class StackContext(NamedTuple):
    """What a template's ``Ref`` can point to in one deployed stack."""

    stack_id: str
    stack_name: str
    parameters: Mapping[str, str]
    """Parameter values as deployed (``ResolvedValue`` where DescribeStacks gives one)."""
    template_parameters: Mapping[str, Any]
    """The template's ``Parameters`` section (types, NoEcho)."""

    @property
    def partition(self) -> str:
        """From the stack ARN: ``aws``, ``aws-cn``, ``aws-us-gov``..."""
        return self._arn_field(1)

    @property
    def region(self) -> str:
        """The region the stack is deployed in, from its ARN."""
        return self._arn_field(3)

    @property
    def account(self) -> str:
        """The account the stack is deployed in, from its ARN."""
        return self._arn_field(4)

    def _arn_field(self, index: int) -> str:
        parts = self.stack_id.split(":")
        return parts[index] if len(parts) > 5 else ""

    def pseudo_parameters(self) -> dict[str, str]:
        """The pseudo parameters whose value the stack ARN tells for certain."""
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
        }
        return {name: value for name, value in values.items() if value}


class Evaluation(NamedTuple):
    """The lookup's properties as CloudFormation delivered them, and what could not be known."""

    properties: dict[str, Any]
    unevaluable: tuple[str, ...]
    """``VersionSelector: Fn::ImportValue "base-version"``, one per property."""


class CannotEvaluateError(Exception):
    """A value that cannot be known from the template and parameters alone."""


class _Absent:
    """``Ref: AWS::NoValue``: the property is not there."""


ABSENT = _Absent()


def evaluate_properties(raw: Mapping[str, Any], stack: StackContext) -> Evaluation:
    """Evaluate the lookup keys of ``raw`` (a resource's ``Properties``) in ``stack``."""
    properties: dict[str, Any] = {}
    unevaluable: list[str] = []
    for key in LOOKUP_KEYS:
        if key not in raw:
            continue
        try:
            value = _evaluate(raw[key], stack, nested=False)
        except CannotEvaluateError as reason:
            unevaluable.append(f"{key}: {reason}")
            continue
        if value is not ABSENT:
            properties[key] = value
    return Evaluation(properties, tuple(unevaluable))


def _evaluate(value: Any, stack: StackContext, *, nested: bool) -> Any:
    """A value as CloudFormation delivers it to a custom resource (strings; maps of them)."""
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        # CloudFormation turns numbers and booleans in a custom resource's properties into
        # text (User Guide, "Custom resource request objects": ResourceProperties).
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list):
        raise CannotEvaluateError(f"a list ({_show(value)})")
    if isinstance(value, Mapping):
        if len(value) == 1:
            (name, argument), *_ = value.items()
            if name == "Ref":
                return _ref(argument, stack)
            if name.startswith("Fn::") or name == "Condition":
                raise CannotEvaluateError(_show(value))
        if nested:
            raise CannotEvaluateError(f"a map inside a map ({_show(value)})")
        evaluated = {str(k): _evaluate(v, stack, nested=True) for k, v in value.items()}
        return {k: v for k, v in evaluated.items() if v is not ABSENT}
    raise CannotEvaluateError(_show(value))


def _ref(name: object, stack: StackContext) -> Any:
    if not isinstance(name, str):
        raise CannotEvaluateError(f"Ref to {_show(name)}")
    if name == NO_VALUE:
        return ABSENT
    pseudo = stack.pseudo_parameters()
    if name in pseudo:
        return pseudo[name]
    if name.startswith("AWS::"):
        raise CannotEvaluateError(f"Ref {name} (a pseudo parameter the stack does not tell)")
    declared = stack.template_parameters.get(name)
    if not isinstance(declared, Mapping):
        raise CannotEvaluateError(f"Ref {name} (a resource)")
    if str(declared.get("NoEcho", "")).lower() == "true":
        raise CannotEvaluateError(f"Ref {name} (a NoEcho parameter)")
    kind = str(declared.get("Type", ""))
    if kind.startswith("List<") or kind == "CommaDelimitedList" or "<List<" in kind:
        raise CannotEvaluateError(f"Ref {name} (a list parameter)")
    if name not in stack.parameters:
        raise CannotEvaluateError(f"Ref {name} (a parameter DescribeStacks does not report)")
    return stack.parameters[name]


def _show(value: object, limit: int = 80) -> str:
    """A template expression, compact, for a message."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
