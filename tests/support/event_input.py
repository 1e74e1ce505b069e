"""The input EventBridge hands a rule's target for an event: constant, or input-transformed.

EventBridge User Guide, "Amazon EventBridge input transformation": ``InputPathsMap``
names JSON paths of the event (``$.account``); in a JSON ``InputTemplate`` a
placeholder ``<name>`` outside quotes is replaced by the value at its path as JSON
(a string keeps its quotes, a list stays a list). That is the only form this
library's rules use (aws-cdk-lib's ``RuleTargetInput.from_object`` with event fields).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def value_at(event: Mapping[str, Any], path: str) -> Any:
    """The event's value at a dotted JSON path (``$.detail.state.status``); None when absent."""
    value: Any = event
    for key in path.removeprefix("$").strip(".").split("."):
        if not key:
            continue
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def render_input(template: str, paths: Mapping[str, str], event: Mapping[str, Any]) -> str:
    """``template`` with each ``<name>`` of ``paths`` replaced by the event's value as JSON."""
    for name, path in paths.items():
        template = template.replace(f"<{name}>", json.dumps(value_at(event, path)))
    return template
