"""Correction recall: who received the old value of a fixed element, found from the audit chain.

When a source fixes a corrected value, every department that received the old value of that element
about that subject must be told (a `correction.recall` naming the element, its query ids and the
correction), so that it re-queries under its own purpose: nobody goes on relying on a value its
source has withdrawn. The audit chain is the only record of who received what (DESIGN.md §9): a
department received the element in a query when its `query.released` record of that query carries
the subject's blind index and an `element.decided` allow of the element came before it, with no
source failure or rejected answer after it (the same reading as `service.received_from`).
"""

import json
from collections import defaultdict
from datetime import datetime

from sqlalchemy import Engine, select

from exchange.audit.events import AuditAction
from exchange.audit.models import AuditEntry

E = AuditEntry.__table__.c  # type: ignore[attr-defined]  # SQLModel does not declare __table__
_NOT_DELIVERED = {AuditAction.SOURCE_FAILED, AuditAction.SOURCE_TIMED_OUT, AuditAction.ANSWER_REJECTED}
_ACTIONS = [a.value for a in (AuditAction.QUERY_RELEASED, AuditAction.ELEMENT_DECIDED, *_NOT_DELIVERED)]


def receivers_of(
    *, engine: Engine, element: str, subject_index: str, since: datetime, until: datetime
) -> dict[str, list[str]]:
    """Department -> the query ids (sorted) through which it received `element` about the subject
    between `since` (the retention window's start) and `until` (the fix)."""
    with engine.connect() as conn:
        steps = conn.execute(
            select(E.request_id, E.actor_department, E.action, E.decision, E.elements)
            .where(
                E.subject_index == subject_index,
                E.action.in_(_ACTIONS),
                E.time >= since,
                E.time < until,
            )
            .order_by(E.seq)
        ).all()
    released: set[tuple[str, str]] = set()
    allowed: set[tuple[str, str]] = set()
    undelivered: set[tuple[str, str]] = set()
    for s in steps:
        if s.request_id is None or s.actor_department is None:
            continue
        key = (s.actor_department, s.request_id)
        if s.action == AuditAction.QUERY_RELEASED:
            released.add(key)
        elif element in json.loads(s.elements):
            if s.action == AuditAction.ELEMENT_DECIDED and s.decision == "allow":
                allowed.add(key)
            elif s.action in _NOT_DELIVERED:
                undelivered.add(key)
    receivers: dict[str, list[str]] = defaultdict(list)
    for department, query_id in sorted(released & allowed - undelivered):
        receivers[department].append(query_id)
    return dict(receivers)
