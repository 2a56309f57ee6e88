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

from sqlalchemy import Engine, insert, select

from exchange.audit.models import AuditEntry
from exchange.queries.models import QueryRecord
from exchange.transparency.models import TransparencyRestriction
from protocol.errors import InvalidRequest, NotFound
from registry.departments.models import Department
from registry.elements.models import DataElement
from registry.service_items.models import ServiceItem

# SQLModel's typing does not declare the `__table__` SQLAlchemy gives each table class, hence the ignores.
E = AuditEntry.__table__.c  # type: ignore[attr-defined]
R = TransparencyRestriction.__table__  # type: ignore[attr-defined]
# Steps after which an allowed element reached the department without data from its source.
_NOT_DELIVERED = ("source.failed", "source.timed_out", "answer.rejected")


def accesses(
    *, engine: Engine, subject_index: str, now: datetime, limit: int, before_seq: int | None = None
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
            for r in conn.execute(
                select(R.c.department, R.c.query_id).where(
                    R.c.query_id.in_(query_ids), R.c.embargo_until > now
                )
            )
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
) -> dict[str, Any]:
    """Store a checked restriction (after its audit record is written)."""
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
        row["id"] = key[0]
    return row
