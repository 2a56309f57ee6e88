"""The routing check: the routing metadata an event is published with, against its type's schema.

The gateway never sees an event's payload, only the routing fields the type declares, sent in the
clear (docs/events.md). They must be exactly those fields, each valid under the payload schema's own
definition of that property; else `invalid_event_payload`, before any recipient is picked.
"""

from collections.abc import Mapping
from typing import Any

from protocol import value_schema
from registry.catalogue import EventTypeView


def routing_schema(view: EventTypeView) -> dict[str, Any]:
    """The routing part of the type's payload schema: its routing properties, all required, no others."""
    properties = view.payload_schema.get("properties", {})
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: properties.get(name, {}) for name in view.routing_fields},
        "required": list(view.routing_fields),
        "additionalProperties": False,
    }
    for key in ("$defs", "definitions"):  # local references of the properties keep resolving
        if key in view.payload_schema:
            schema[key] = view.payload_schema[key]
    return schema


def routing_problem(view: EventTypeView, routing: Mapping[str, Any]) -> str | None:
    """None when `routing` is valid for the type; else what is wrong, for the caller."""
    schema = routing_schema(view)
    try:
        checker = value_schema.validator(schema)
    except Exception:  # a schema that breaks the rules: fail closed (DESIGN.md §2.4)
        return f"the payload schema of {view.code!r} is not usable"
    errors = sorted(checker.iter_errors(dict(routing)), key=lambda e: list(e.path))
    if not errors:
        return None
    first = errors[0]
    where = ".".join(str(p) for p in first.path) or "routing"
    return f"{where}: {first.message}"[:300]
