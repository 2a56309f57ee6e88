"""Data element rules: one source per element (一数一源), allowed status moves, a history of every change."""

from typing import Any

import jsonschema
from sqlalchemy import exists, func, or_
from sqlmodel import Session, col, select

from protocol import value_schema
from protocol.clock import utcnow
from protocol.errors import Conflict, InvalidRequest, NotFound
from registry import events
from registry.actors import ANONYMOUS, Actor, require_steward, require_steward_or
from registry.aliases.models import ElementAlias
from registry.departments import service as departments
from registry.departments.models import Department
from registry.elements.models import (
    INACTIVE_STATUSES,
    DataElement,
    ElementCreate,
    ElementHistory,
    ElementRead,
    ElementUpdate,
    StatusChange,
)
from registry.errors import ConfirmationRequired, InvalidTransition, InvalidValueSchema, StaleConfirmation
from registry.impact import service as impact
from registry.pagination import PageParams

# ISO/IEC 11179 registration states, forward only. Any not-yet-inactive element may be retired (a
# candidate the steward refuses, a recorded element found wrong); only a standard one is superseded,
# because only a standard has a successor that replaces it. Superseded may still be retired.
TRANSITIONS: dict[str, frozenset[str]] = {
    "candidate": frozenset({"recorded", "retired"}),
    "recorded": frozenset({"qualified", "retired"}),
    "qualified": frozenset({"standard", "retired"}),
    "standard": frozenset({"superseded", "retired"}),
    "superseded": frozenset({"retired"}),
    "retired": frozenset(),
}
_UPDATABLE = tuple(ElementUpdate.model_fields.keys() - {"reason"})


def get_by_code(*, session: Session, code: str) -> DataElement | None:
    """Return the element with this code, or None."""
    return session.exec(select(DataElement).where(DataElement.code == code)).first()


def get_by_code_or_raise(*, session: Session, code: str) -> DataElement:
    """Return the element with this code, or raise NotFound."""
    element = get_by_code(session=session, code=code)
    if element is None:
        raise NotFound(f"no data element with code {element_code_repr(code)}")
    return element


def element_code_repr(code: str) -> str:
    """A code quoted for an error message, cut so a hostile input cannot flood it."""
    return repr(code[:80])


def check_value_schema(schema: dict[str, Any] | None) -> None:
    """Refuse a value schema that is invalid, refers outside itself or has a costly pattern."""
    if schema is None:
        return
    try:
        value_schema.check(schema)  # the rules: protocol/value_schema.py, docs/security.md
    except value_schema.UnsafeValueSchema as exc:
        raise InvalidValueSchema(f"value_schema is refused: {exc}") from exc
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidValueSchema(
            f"value_schema is not a valid JSON Schema at {where}: {exc.message[:200]}"
        ) from exc


def record_change(
    *,
    session: Session,
    element: DataElement,
    action: str,
    actor: Actor,
    changes: dict[str, Any],
    reason: str = "",
) -> None:
    """Bump the element's version and write the history entry and the change event."""
    assert element.id is not None, "only a stored element has changes to record"
    element.version += 1
    element.updated_at = utcnow()
    session.add(element)
    session.add(
        ElementHistory(
            element_id=element.id,
            version=element.version,
            action=action,
            actor=actor.label(),
            changes=changes,
            reason=reason,
        )
    )
    session.flush()
    events.record(
        session, type=f"element.{action}", entity="element", code=element.code, version=element.version
    )


def create(*, session: Session, element_in: ElementCreate, actor: Actor = ANONYMOUS) -> DataElement:
    """Register a new element under its single source (no duplicate check: see registry/flows.py)."""
    require_steward_or(actor, element_in.source, "register an element with this source")
    source = departments.get_by_code_or_raise(session=session, code=element_in.source)
    if get_by_code(session=session, code=element_in.code) is not None:
        raise Conflict(f"element {element_in.code!r} already exists")
    if element_in.status in INACTIVE_STATUSES:
        raise InvalidRequest(f"an element cannot be registered as {element_in.status}")
    check_value_schema(element_in.value_schema)
    element = DataElement.model_validate(
        element_in.model_dump(exclude={"source", "reason"})
        | {"source_department_id": source.id, "version": 1}
    )
    session.add(element)
    session.flush()
    assert element.id is not None, "a flushed element has an id"
    snapshot = element_in.model_dump(exclude={"reason"}, mode="json")
    session.add(
        ElementHistory(
            element_id=element.id,
            version=1,
            action="created",
            actor=actor.label(),
            changes={k: [None, v] for k, v in snapshot.items()},
            reason=element_in.reason,
        )
    )
    session.flush()
    events.record(session, type="element.created", entity="element", code=element.code, version=1)
    return element


def source_code(*, session: Session, element: DataElement) -> str:
    """The code of the element's source department."""
    source = session.get(Department, element.source_department_id)
    assert source is not None  # the foreign key guarantees it
    return source.code


def require_editor(*, session: Session, element: DataElement, actor: Actor, what: str) -> None:
    """Only a steward or someone acting for the element's source department may edit it."""
    require_steward_or(actor, source_code(session=session, element=element), what)


def update(*, session: Session, element: DataElement, element_in: ElementUpdate, actor: Actor) -> DataElement:
    """Change attributes (steward or the source department); a no-op change writes nothing."""
    require_editor(session=session, element=element, actor=actor, what="change this element")
    if element.status in INACTIVE_STATUSES:
        raise InvalidTransition(f"element {element.code!r} is {element.status}: it can no longer change")
    given = element_in.model_dump(exclude_unset=True, exclude={"reason"})
    if "value_schema" in given:
        check_value_schema(given["value_schema"])
    changes = {
        name: [getattr(element, name), value]
        for name, value in given.items()
        # null clears only the value schema; for every other field it means "leave as is".
        if name in _UPDATABLE
        and (value is not None or name == "value_schema")
        and getattr(element, name) != value
    }
    if not changes:
        return element
    for name, (_old, new) in changes.items():
        setattr(element, name, new)
    record_change(
        session=session,
        element=element,
        action="updated",
        actor=actor,
        changes=changes,
        reason=element_in.reason,
    )
    return element


def change_status(
    *, session: Session, element: DataElement, change: StatusChange, actor: Actor
) -> DataElement:
    """Move the registration status along an allowed transition; superseding/retiring needs confirmation."""
    require_steward(actor, "change a registration status")
    if change.status not in TRANSITIONS[element.status]:
        allowed = ", ".join(sorted(TRANSITIONS[element.status])) or "none"
        raise InvalidTransition(
            f"{element.status} -> {change.status} is not allowed (from {element.status}: {allowed})"
        )
    changes: dict[str, Any] = {"status": [element.status, change.status]}
    if change.status in INACTIVE_STATUSES:
        report = impact.impact_of(session=session, element=element)
        if not change.confirm:
            raise ConfirmationRequired(
                f"confirm the impact of {change.status}: send `confirm` = the token of "
                f"GET /v1/elements/{element.code}/impact"
            )
        if change.confirm != report.token:
            raise StaleConfirmation("the impact list changed since it was confirmed: review it again")
    if change.status == "superseded":
        successor = _successor(session=session, element=element, code=change.superseded_by)
        element.superseded_by_id = successor.id
        changes["superseded_by"] = [None, successor.code]
    elif change.superseded_by:
        raise InvalidRequest("superseded_by is only for status superseded")
    element.status = change.status
    record_change(
        session=session, element=element, action="status", actor=actor, changes=changes, reason=change.reason
    )
    return element


def _successor(*, session: Session, element: DataElement, code: str | None) -> DataElement:
    if not code:
        raise InvalidRequest("superseding needs superseded_by: the element that replaces this one")
    successor = get_by_code_or_raise(session=session, code=code)
    if successor.id == element.id or successor.status in INACTIVE_STATUSES:
        raise InvalidRequest("the successor must be another, active element")
    if successor.subject_type != element.subject_type:
        raise InvalidRequest("the successor must describe the same subject type")
    return successor


def set_source(
    *,
    session: Session,
    element: DataElement,
    department: Department,
    actor: Actor,
    action: str,
    reason: str = "",
) -> DataElement:
    """Change the single source (a handover or a dispute outcome), recorded in history."""
    old = source_code(session=session, element=element)
    assert department.id is not None, "a department read from the database has an id"
    element.source_department_id = department.id
    record_change(
        session=session,
        element=element,
        action=action,
        actor=actor,
        changes={"source": [old, department.code]},
        reason=reason,
    )
    return element


def to_read(*, session: Session, element: DataElement) -> ElementRead:
    """The API view of an element, with its source department's code."""
    successor = session.get(DataElement, element.superseded_by_id) if element.superseded_by_id else None
    return ElementRead.model_validate(
        element.model_dump()
        | {
            "source": source_code(session=session, element=element),
            "superseded_by": successor.code if successor else None,
        }
    )


def list_(
    *,
    session: Session,
    page: PageParams,
    source: str | None = None,
    q: str | None = None,
    status: str | None = None,
    subject_type: str | None = None,
    sharing_type: str | None = None,
    grade: str | None = None,
) -> tuple[list[DataElement], int]:
    """A page of elements, filtered, optionally matching a search term (code, zh/en names, aliases)."""
    stmt = select(DataElement)
    if source is not None:
        stmt = stmt.join(Department).where(Department.code == source)
    for column, value in (
        (DataElement.status, status),
        (DataElement.subject_type, subject_type),
        (DataElement.sharing_type, sharing_type),
        (DataElement.grade, grade),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if q:
        # autoescape: a search for "_" or "%" means those characters, not LIKE's wildcards.
        term = q.casefold()
        alias_hit = exists().where(
            col(ElementAlias.element_id) == DataElement.id,
            or_(
                func.lower(ElementAlias.local_name).contains(term, autoescape=True),
                func.lower(ElementAlias.local_code).contains(term, autoescape=True),
            ),
        )
        stmt = stmt.where(
            or_(
                func.lower(DataElement.code).contains(term, autoescape=True),
                col(DataElement.name_zh).contains(q, autoescape=True),
                func.lower(DataElement.name_en).contains(term, autoescape=True),
                alias_hit,
            )
        )
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(DataElement.code)).offset(page.offset).limit(page.limit))
    return list(rows), total


def history(*, session: Session, element: DataElement, page: PageParams) -> tuple[list[ElementHistory], int]:
    """A page of the element's history, newest first, and the total."""
    where = ElementHistory.element_id == element.id
    total = session.exec(select(func.count()).select_from(ElementHistory).where(where)).one()
    rows = session.exec(
        select(ElementHistory)
        .where(where)
        .order_by(col(ElementHistory.version).desc())
        .offset(page.offset)
        .limit(page.limit)
    )
    return list(rows), total
