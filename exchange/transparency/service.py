"""The citizen's view of who read their data, and departments' restrictions of it.

Built from the audit chain only: one entry per `query.released` record about the subject, with the
elements allowed by `element.decided` that did not then fail at their source. Replays
(`query.replayed`) send an answer again to the same department and are not new reads: not listed.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from exchange.audit.models import AuditEntry
from exchange.queries.models import QueryRecord
from exchange.transparency.models import TransparencyRestriction
from protocol.clock import as_utc
from protocol.errors import Conflict, InvalidRequest, NotFound
from registry.departments.models import Department
from registry.elements.models import DataElement
from registry.service_items.models import ServiceItem

# SQLModel's typing does not declare the `__table__` SQLAlchemy gives each table class, hence the ignores.
E = AuditEntry.__table__.c  # type: ignore[attr-defined]
R = TransparencyRestriction.__table__  # type: ignore[attr-defined]
DEFAULT_APPROVAL_AFTER_DAYS = 30  # TransparencySettings.approval_after_days
# Steps after which an allowed element reached the department without data from its source.
_NOT_DELIVERED = ("source.failed", "source.timed_out", "answer.rejected")


def accesses(
    *,
    engine: Engine,
    subject_index: str,
    now: datetime,
    limit: int,
    before_seq: int | None = None,
    approval_after_days: int = DEFAULT_APPROVAL_AFTER_DAYS,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int | None]:
    """A page of the subject's accesses, newest first: (shown, hidden by restriction, next cursor)."""
    stmt = select(E).where(E.subject_index == subject_index, E.action == "query.released")
    if before_seq is not None:
        stmt = stmt.where(E.seq < before_seq)
    with engine.connect() as conn:
        released = conn.execute(stmt.order_by(E.seq.desc()).limit(limit)).all()
        next_before = released[-1].seq if len(released) == limit else None
        if not released:
            return [], [], next_before
        query_ids = sorted({r.request_id for r in released})
        steps = conn.execute(
            select(E.actor_department, E.request_id, E.action, E.decision, E.elements).where(
                E.subject_index == subject_index,
                E.request_id.in_(query_ids),
                E.action.in_(("element.decided", *_NOT_DELIVERED)),
            )
        ).all()
        restricted = {
            (r.department, r.query_id)
            for r in conn.execute(select(R).where(R.c.query_id.in_(query_ids), R.c.embargo_until > now))
            if hides_until(r, approval_after_days=approval_after_days) > now
        }
        names = _names(conn, released, steps)
    allowed: dict[tuple[str, str], set[str]] = defaultdict(set)
    failed: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in steps:
        codes = set(json.loads(s.elements))
        if s.action == "element.decided" and s.decision == "allow":
            allowed[(s.actor_department, s.request_id)] |= codes
        elif s.action in _NOT_DELIVERED:
            failed[(s.actor_department, s.request_id)] |= codes
    shown, hidden = [], []
    for r in released:
        key = (r.actor_department, r.request_id)
        delivered = sorted(allowed[key] - failed[key])
        if not delivered:
            continue  # nothing of the subject's data reached the department
        if key in restricted:
            hidden.append(
                {
                    "seq": r.seq,
                    "department": r.actor_department,
                    "query_id": r.request_id,
                    "service_item": r.service_item,
                    "case_no": r.case_no,
                    "elements": delivered,
                }
            )
            continue
        shown.append(
            {
                "time": r.time,
                "department": {
                    "code": r.actor_department,
                    "name": names["department"].get(r.actor_department),
                },
                "service_item": {"code": r.service_item, "name": names["service_item"].get(r.service_item)},
                "case_no": r.case_no,
                "query_id": r.request_id,
                "elements": [{"code": c, "name": names["element"].get(c)} for c in delivered],
            }
        )
    return shown, hidden, next_before


def _names(conn: Any, released: Sequence[Any], steps: Sequence[Any]) -> dict[str, dict[str, str]]:
    """Registry names of the departments, service items and elements on a page (codes stay the key)."""
    depts = {r.actor_department for r in released}
    items = {r.service_item for r in released}
    elements = {c for s in steps for c in json.loads(s.elements)}
    return registry_names(conn, departments=depts, items=items, elements=elements)


def registry_names(
    conn: Any, *, departments: set[str], items: set[str], elements: set[str]
) -> dict[str, dict[str, str]]:
    """Registry names (zh) of departments, service items and elements, by code (the citizen's pages)."""
    depts = departments
    # `__table__` is undeclared in SQLModel's typing (see E above).
    d, i, el = Department.__table__.c, ServiceItem.__table__.c, DataElement.__table__.c  # type: ignore[attr-defined]
    return {
        "department": dict(conn.execute(select(d.code, d.name).where(d.code.in_(depts))).all()),
        "service_item": dict(conn.execute(select(i.code, i.name).where(i.code.in_(items))).all()),
        "element": dict(conn.execute(select(el.code, el.name_zh).where(el.code.in_(elements))).all()),
    }


def check_restriction(
    *,
    engine: Engine,
    department: str,
    query_id: str,
    embargo_until: datetime,
    now: datetime,
    max_embargo_days: int,
) -> str | None:
    """Validate a restriction before anything is written; the subject index of its query, if audited."""
    if embargo_until <= now:
        raise InvalidRequest("embargo_until must be in the future")
    if embargo_until > now + timedelta(days=max_embargo_days):
        raise InvalidRequest(f"an embargo may last at most {max_embargo_days} days")
    q = QueryRecord.__table__.c  # type: ignore[attr-defined]  # undeclared in SQLModel's typing
    with engine.connect() as conn:
        # Only the department that made the query can restrict it; another's query is simply not found.
        made = conn.execute(
            select(q.query_id).where(q.consumer == department, q.query_id == query_id)
        ).first()
        if made is None:
            raise NotFound(f"department {department!r} made no query {query_id!r}")
    return subject_index_of(engine=engine, department=department, query_id=query_id)


def subject_index_of(*, engine: Engine, department: str, query_id: str) -> str | None:
    """The subject blind index of a department's released query, from the audit chain."""
    with engine.connect() as conn:
        return conn.execute(
            select(E.subject_index).where(
                E.actor_department == department, E.request_id == query_id, E.action == "query.released"
            )
        ).scalar()


def add_restriction(
    *,
    engine: Engine,
    department: str,
    created_by: str,
    query_id: str,
    embargo_until: datetime,
    reason: str,
    now: datetime,
    approval_after_days: int = DEFAULT_APPROVAL_AFTER_DAYS,
) -> dict[str, Any]:
    """Store a checked restriction (after its audit record is written); as `review_view` gives it."""
    row = {
        "query_id": query_id,
        "department": department,
        "embargo_until": embargo_until,
        "reason": reason,
        "created_at": now,
        "created_by": created_by,
    }
    with engine.begin() as conn:
        key = conn.execute(insert(R).values(**row)).inserted_primary_key
        assert key is not None, "a single-row INSERT reports its primary key"
        stored = conn.execute(select(R).where(R.c.id == key[0])).one()
    return review_view(stored, approval_after_days=approval_after_days)


def needs_approval(restriction: Any, *, approval_after_days: int) -> bool:
    """Whether the embargo runs past the short default a department may set alone."""
    default_end = as_utc(restriction.created_at) + timedelta(days=approval_after_days)
    return as_utc(restriction.embargo_until) > default_end


def hides_until(restriction: Any, *, approval_after_days: int) -> datetime:
    """When the restriction stops hiding its access: the embargo, cut to the default until approved."""
    embargo = as_utc(restriction.embargo_until)
    if restriction.approved_at is not None or not needs_approval(
        restriction, approval_after_days=approval_after_days
    ):
        return embargo
    return as_utc(restriction.created_at) + timedelta(days=approval_after_days)


def review_view(restriction: Any, *, approval_after_days: int) -> dict[str, Any]:
    """A restriction as a reviewer (and the department) sees it, with its approval state."""
    row = dict(restriction._mapping)
    if not needs_approval(restriction, approval_after_days=approval_after_days):
        approval = "not_needed"
    else:
        approval = "approved" if restriction.approved_at is not None else "pending"
    return row | {
        "approval": approval,
        "hides_until": hides_until(restriction, approval_after_days=approval_after_days),
    }


def list_restrictions(
    *, engine: Engine, approval_after_days: int, pending_only: bool, limit: int
) -> list[dict[str, Any]]:
    """Restrictions for review, newest first: all, or only those waiting for an approval."""
    with engine.connect() as conn:
        stmt = select(R).order_by(R.c.id.desc())
        if pending_only:
            stmt = stmt.where(R.c.approved_at.is_(None))
        out = []
        for r in conn.execute(stmt):
            view = review_view(r, approval_after_days=approval_after_days)
            if not pending_only or view["approval"] == "pending":
                out.append(view)
            if len(out) >= limit:
                break
    return out


def get_restriction_or_raise(*, engine: Engine, restriction_id: int) -> Any:
    """The stored restriction with this id, or NotFound."""
    with engine.connect() as conn:
        row = conn.execute(select(R).where(R.c.id == restriction_id)).first()
    if row is None:
        raise NotFound(f"no restriction {restriction_id}")
    return row


def check_approvable(restriction: Any, *, approval_after_days: int) -> None:
    """Refuse to approve a restriction that needs no approval or already has one."""
    if restriction.approved_at is not None:
        raise Conflict(f"restriction {restriction.id} is already approved")
    if not needs_approval(restriction, approval_after_days=approval_after_days):
        raise Conflict(f"restriction {restriction.id} is within the default and needs no approval")


def approve(
    *, engine: Engine, restriction_id: int, approved_by: str, now: datetime, approval_after_days: int
) -> dict[str, Any]:
    """Record the approval (after its audit record is written); only a pending one is changed."""
    with engine.begin() as conn:
        done = conn.execute(
            update(R)
            .where(R.c.id == restriction_id, R.c.approved_at.is_(None))
            .values(approved_at=now, approved_by=approved_by)
        )
        if done.rowcount != 1:
            raise Conflict(f"restriction {restriction_id} is already approved")
        row = conn.execute(select(R).where(R.c.id == restriction_id)).one()
    return review_view(row, approval_after_days=approval_after_days)
