"""Corrections: who may file (checked against the audit chain), routing, moves, deadlines, escalation.

Plain functions over the engine, run in a thread by the API. The API writes each step's audit record
before the change is committed (fail closed, see api.py); these functions only check and store.
"""

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, and_, func, or_, select, update

from exchange.audit.events import AuditAction
from exchange.audit.models import AuditEntry
from exchange.audit.writer import IdempotentInsert
from exchange.corrections.models import Correction, CorrectionIn, TransitionIn
from exchange.corrections.settings import CorrectionsSettings
from exchange.corrections.states import CLOSED, NOT_TAKEN_UP, OPEN, Role, check_move
from protocol.errors import Conflict, InvalidRequest, NotFound
from registry.agreements.deadlines import WorkingCalendar
from registry.catalogue import Catalogue
from registry.pagination import PageParams

# SQLModel's typing does not declare the `__table__` SQLAlchemy gives each table class, hence the ignores.
E = AuditEntry.__table__.c  # type: ignore[attr-defined]
C = Correction.__table__  # type: ignore[attr-defined]
# Steps after which an allowed element reached the consumer without a value (as the citizen's view).
_NOT_DELIVERED = (AuditAction.SOURCE_FAILED, AuditAction.SOURCE_TIMED_OUT, AuditAction.ANSWER_REJECTED)


def received_from(
    *, engine: Engine, department: str, query_id: str, element: str, subject_index: str
) -> str | None:
    """The source that released `element` about the subject to the department in that query, or None.

    From the audit chain only: the department's own `query.released` record of `query_id` with the
    subject's blind index, and an `element.decided` allow of the element in the same query that no
    source failure or rejected answer followed. Another department's query is simply not found.
    """
    actions = (AuditAction.QUERY_RELEASED, AuditAction.ELEMENT_DECIDED, *_NOT_DELIVERED)
    with engine.connect() as conn:
        steps = conn.execute(
            select(E.action, E.decision, E.elements, E.source).where(
                E.request_id == query_id,
                E.actor_department == department,
                E.subject_index == subject_index,
                E.action.in_([a.value for a in actions]),
            )
        ).all()
    if not any(s.action == AuditAction.QUERY_RELEASED for s in steps):
        return None
    source = None
    for s in steps:
        if element not in json.loads(s.elements):
            continue
        if s.action in _NOT_DELIVERED:
            return None
        if s.action == AuditAction.ELEMENT_DECIDED and s.decision == "allow":
            source = s.source
    return source


def route(catalogue: Catalogue, element: str, audited_source: str) -> str:
    """The element's one authoritative source now (一数一源), or the one that answered if it is gone."""
    view = catalogue.elements.get(element)
    return view.source if view is not None else audited_source


def open_duplicate(*, engine: Engine, filer: str, element: str, subject_index: str) -> str | None:
    """The id of the filer's open correction of the same value, if any (one is enough)."""
    with engine.connect() as conn:
        return conn.execute(
            select(C.c.id).where(
                C.c.filer == filer,
                C.c.element == element,
                C.c.subject_index == subject_index,
                C.c.state.in_(sorted(OPEN)),
            )
        ).scalar()


def new_id() -> str:
    """A fresh correction id (unguessable; visibility is checked anyway)."""
    return uuid.uuid4().hex


def filing(
    *,
    correction_id: str,
    correction_in: CorrectionIn,
    filer: str,
    filed_by: str,
    source: str,
    subject_index: str,
    proposed_sealed: bytes | None,
    subject_sealed: bytes,
    now: datetime,
    calendar: WorkingCalendar,
    settings: CorrectionsSettings,
) -> IdempotentInsert:
    """The new correction's row, for the audit writer to commit with its `correction.filed` record."""
    days = settings.deadlines_for(source)
    values = {
        "id": correction_id,
        "element": correction_in.element,
        "subject_type": correction_in.subject.type,
        "subject_index": subject_index,
        "query_id": correction_in.query_id,
        "filer": filer,
        "filed_by": filed_by,
        "source": source,
        "state": "reported",
        "problem": correction_in.problem,
        "proposed_sealed": proposed_sealed,
        "subject_sealed": subject_sealed,
        "evidence_ref": correction_in.evidence_ref,
        "state_reason": None,
        "filed_at": now,
        "routed_at": now,
        "updated_at": now,
        "take_up_due": calendar.add_working_days(now, days.take_up),
        "close_due": calendar.add_working_days(now, days.close),
        "accepted_at": None,
        "closed_at": None,
        "escalated_at": None,
        "version": 1,
    }
    return IdempotentInsert(C, values)


def get_or_raise(*, engine: Engine, correction_id: str) -> Row[Any]:
    """The stored correction with this id, or NotFound."""
    with engine.connect() as conn:
        row = conn.execute(select(C).where(C.c.id == correction_id)).first()
    if row is None:
        raise NotFound(f"no correction {correction_id!r}")
    return row


def roles_of(row: Any, *, department: str, steward: bool) -> frozenset[Role]:
    """What the caller is to this correction: its filer, its (current) source, a steward."""
    roles: set[Role] = set()
    if row.filer == department:
        roles.add("filer")
    if row.source == department:
        roles.add("source")
    if steward:
        roles.add("steward")
    return frozenset(roles)


def visible_or_raise(*, engine: Engine, correction_id: str, department: str, steward: bool) -> Row[Any]:
    """The correction, if the caller is its filer, its source or a steward; for anyone else NotFound."""
    row = get_or_raise(engine=engine, correction_id=correction_id)
    if not roles_of(row, department=department, steward=steward):
        raise NotFound(f"no correction {correction_id!r}")  # its existence is not disclosed
    return row


def is_overdue(row: Any, *, now: datetime) -> bool:
    """Open past its close deadline, or not yet taken up past its take-up deadline."""
    if row.state in CLOSED:
        return False
    return now > row.close_due or (row.state in NOT_TAKEN_UP and now > row.take_up_due)


def _overdue_clause(now: datetime) -> Any:
    return and_(
        C.c.state.in_(sorted(OPEN)),
        or_(C.c.close_due < now, and_(C.c.state.in_(sorted(NOT_TAKEN_UP)), C.c.take_up_due < now)),
    )


def list_(
    *,
    engine: Engine,
    department: str,
    steward: bool,
    role: str | None,
    state: str | None,
    overdue: bool,
    now: datetime,
    page: PageParams,
) -> tuple[Sequence[Row[Any]], int]:
    """A page of the corrections the caller may see, newest first, and how many there are."""
    where = []
    if role == "filed":
        where.append(C.c.filer == department)
    elif role == "to_fix":
        where.append(C.c.source == department)
    elif not steward:
        where.append(or_(C.c.filer == department, C.c.source == department))
    if state is not None:
        where.append(C.c.state == state)
    if overdue:
        where.append(_overdue_clause(now))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(C).where(*where)).scalar_one()
        rows = conn.execute(
            select(C)
            .where(*where)
            .order_by(C.c.filed_at.desc(), C.c.id)
            .limit(page.limit)
            .offset(page.offset)
        ).all()
    return rows, total


def move(
    row: Any,
    move_in: TransitionIn,
    *,
    roles: frozenset[Role],
    catalogue: Catalogue,
    now: datetime,
    calendar: WorkingCalendar,
    settings: CorrectionsSettings,
) -> dict[str, Any]:
    """Check a move against the state machine and the caller's roles; the columns it changes."""
    check_move(row.state, move_in.to, roles)
    values: dict[str, Any] = {"state": move_in.to, "state_reason": move_in.reason, "updated_at": now}
    if move_in.to == "reported":  # a steward's forward: a new source, deadlines counted afresh
        new_source = move_in.source or ""
        if catalogue.departments.get(new_source) != "active":
            raise InvalidRequest(f"no active department {new_source!r} to forward to")
        if new_source == row.source:
            raise InvalidRequest(f"the correction is already routed to {new_source!r}")
        days = settings.deadlines_for(new_source)
        values |= {
            "source": new_source,
            "routed_at": now,
            "take_up_due": calendar.add_working_days(now, days.take_up),
            "close_due": calendar.add_working_days(now, days.close),
            "accepted_at": None,
            "escalated_at": None,  # the new source's deadlines; the old escalation stays on the chain
        }
    elif move_in.to == "accepted":
        values["accepted_at"] = now
    elif move_in.to in CLOSED:
        values["closed_at"] = now
    return values


def apply(*, engine: Engine, row: Any, values: dict[str, Any]) -> Row[Any]:
    """Store a checked move (after its audit record is written), if nobody changed the row meanwhile."""
    with engine.begin() as conn:
        done = conn.execute(
            update(C)
            .where(C.c.id == row.id, C.c.version == row.version)
            .values(**values, version=row.version + 1)
        )
        if done.rowcount != 1:
            raise Conflict(f"correction {row.id!r} changed meanwhile; read it again")
        return conn.execute(select(C).where(C.c.id == row.id)).one()


def due_for_escalation(*, engine: Engine, now: datetime, limit: int = 500) -> Sequence[Row[Any]]:
    """Open corrections past a deadline that the stewards have not been told of yet."""
    with engine.connect() as conn:
        return conn.execute(
            select(C)
            .where(_overdue_clause(now), C.c.escalated_at.is_(None))
            .order_by(C.c.filed_at)
            .limit(limit)
        ).all()


def mark_escalated(*, engine: Engine, row: Any, now: datetime) -> bool:
    """Set `escalated_at` (after the escalation is audited); False if another process did it first."""
    with engine.begin() as conn:
        done = conn.execute(
            update(C)
            .where(C.c.id == row.id, C.c.version == row.version, C.c.escalated_at.is_(None))
            .values(escalated_at=now, version=row.version + 1)
        )
    return done.rowcount == 1


def open_disputes(engine: Engine) -> dict[tuple[str, str], str]:
    """Every open correction as (element, subject blind index) -> its id (the oldest when several)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(C.c.element, C.c.subject_index, C.c.id)
            .where(C.c.state.in_(sorted(OPEN)))
            .order_by(C.c.filed_at.desc())
        ).all()
    return {(r.element, r.subject_index): r.id for r in rows}
