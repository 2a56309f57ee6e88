"""Turn submitted forms into the registry's input models, with errors per field in the UI language."""

import json
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError

# pydantic error type -> message key of console/i18n.py
_ERROR_KEYS = {
    "missing": "form.required",
    "string_too_short": "form.required",
    "string_too_long": "form.too_long",
    "string_pattern_mismatch": "form.pattern",
    "literal_error": "form.choice",
    "enum": "form.choice",
    "dict_type": "form.json_object",
    "json_invalid": "form.json",
    "datetime_parsing": "form.date",
    "datetime_from_date_parsing": "form.date",
    "timezone_aware": "form.date",
    "date_from_datetime_parsing": "form.date",
}


async def form_data(request: Request) -> dict[str, str]:
    """The submitted form as plain strings (files are not accepted by the console)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def field_errors(exc: ValidationError) -> dict[str, tuple[str, dict[str, Any]]]:
    """Field name -> (message key, params) for the first problem of each field."""
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err.get("loc") else "__all__"
        if name not in errors:
            params = {"max": (err.get("ctx") or {}).get("max_length", "")}
            errors[name] = (_ERROR_KEYS.get(err["type"], "form.invalid"), params)
    return errors


def parse(
    model: type[BaseModel],
    data: dict[str, Any],
    *,
    json_fields: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
) -> tuple[Any, dict[str, tuple[str, dict[str, Any]]]]:
    """Validate data as `model`; empty optional fields are left out, JSON fields decoded first.

    `required` names fields the model treats as optional (e.g. in an update) that the form must not
    send empty: clearing a name in an edit form is a mistake to point out, not "leave unchanged".
    """
    clean: dict[str, Any] = {}
    errors: dict[str, tuple[str, dict[str, Any]]] = {
        name: ("form.required", {}) for name in required if not str(data.get(name, "")).strip()
    }
    for name, value in data.items():
        if name not in model.model_fields:
            continue
        if name in json_fields:
            if not value.strip():
                continue
            try:
                clean[name] = json.loads(value)
            except ValueError:
                errors[name] = ("form.json", {})
            continue
        if value == "" and not model.model_fields[name].is_required():
            continue
        clean[name] = value
    try:
        result = model.model_validate(clean)
    except ValidationError as exc:
        return None, field_errors(exc) | errors
    return (None, errors) if errors else (result, {})
