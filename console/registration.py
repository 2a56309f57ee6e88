"""Registering an element from the console: one source, or a dispute (the registry decides which)."""

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from protocol.errors import ShuyuanError
from registry import flows
from registry.actors import Actor
from registry.disputes.models import SourceDispute
from registry.elements.models import DataElement, ElementCreate


@dataclass(frozen=True)
class Registered:
    """What became of a registration: a new element, or a dispute against an existing one."""

    element_code: str | None
    dispute_id: int | None = None
    existing_code: str | None = None


def register(*, session: Session, element_in: ElementCreate, actor: Actor) -> Registered:
    """Register through the registry's rules; a duplicate claim comes back as a dispute."""
    outcome = flows.register(session=session, element_in=element_in, actor=actor)
    if isinstance(outcome, SourceDispute):
        existing = session.get(DataElement, outcome.element_id)
        assert existing is not None  # the foreign key guarantees it
        return Registered(element_code=None, dispute_id=outcome.id, existing_code=existing.code)
    return Registered(element_code=outcome.code)


# Reason code -> the form field an error belongs next to.
_FIELD_OF_REASON = {"invalid_value_schema": "value_schema", "conflict": "code", "not_found": "source"}


def field_of(exc: ShuyuanError) -> str:
    """The form field a refusal is about ("__all__" when it is about the whole form)."""
    return _FIELD_OF_REASON.get(str(exc.reason), "__all__")


def schema_text(schema: dict[str, Any] | None) -> str:
    """A value schema as the edit form shows it."""
    return json.dumps(schema, ensure_ascii=False, indent=2) if schema else ""
