"""The subscription form's conditions: one a line, `field op value`, typed by the routing field's schema.

A condition compares an event's routing value with the condition's by type (registry/policy.py
`condition_holds`: `equals` holds only for a value of the same JSON type), so the text a steward
types is read as the type the event types' payload schemas give that field: `true`/`false` for a
boolean, a whole number for an integer, text otherwise; `in` takes a comma-separated list. Whether the
field may be routed on at all is the registry's rule (registry/subscriptions/service.py), not this.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

OPS = ("equals", "in", "contains")
_SEPARATORS = re.compile(r"[,，、]")  # a list typed with Chinese punctuation means the same


class ConditionSyntax(ValueError):
    """A line that is not a condition; `key` and `params` name the console message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def field_types(schemas: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each top-level payload property -> its JSON type, from the first schema that declares it."""
    types: dict[str, str] = {}
    for schema in schemas:
        for name, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, Mapping) and isinstance(prop.get("type"), str):
                types.setdefault(name, prop["type"])
    return types


def _value(text: str, kind: str | None, line: int, field: str) -> str | bool | int:
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ConditionSyntax(
                "subscriptions.condition_value", line=line, field=field, kind="true / false"
            )
        return text.lower() == "true"
    if kind == "integer":
        if not re.fullmatch(r"-?\d{1,18}", text):
            raise ConditionSyntax("subscriptions.condition_value", line=line, field=field, kind="0-9")
        return int(text)
    return text  # a string, or an item of an array (`contains`)


def parse_conditions(text: str, types: Mapping[str, str]) -> list[dict[str, Any]]:
    """The conditions of the form's text, one a line; ConditionSyntax names the first bad line."""
    conditions: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) != 3 or parts[1] not in OPS:
            raise ConditionSyntax("subscriptions.condition_line", line=number)
        field, op, rest = parts
        if op == "in":
            items = [i.strip() for i in _SEPARATORS.split(rest) if i.strip()]
            conditions.append({"field": field, "op": op, "value": items})
        else:
            conditions.append(
                {"field": field, "op": op, "value": _value(rest.strip(), types.get(field), number, field)}
            )
    return conditions


def condition_text(condition: Mapping[str, Any]) -> str:
    """A stored condition as the form writes it (the list of the subscriptions' table shows this too)."""
    value = condition.get("value")
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, list):
        shown = ", ".join(str(v) for v in value)
    else:
        shown = str(value)
    return f"{condition.get('field')} {condition.get('op')} {shown}"
