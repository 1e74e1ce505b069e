"""Event files (tests/events) as the handler receives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str, **properties: Any) -> dict[str, Any]:
    """An event file from tests/events with ResourceProperties merged in (None removes)."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    props = event.setdefault("ResourceProperties", {})
    for key, value in properties.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return event
