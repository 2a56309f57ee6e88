"""Consent: which elements of a query wait for it, the requests, the citizen's answer, and the grant.

The rule itself (an element marked `consent_required` is released only under the subject's consent,
个人信息保护法 第二十九条) is registry/policy.py `consent_required`; this module keeps the requests and
decides whether a consent covers a query: an approved request of the same department, subject, service
item and case, for the element, whose grant has not run out. Plain functions over the engine, run in a
thread; every change's audit record is written by the caller first (fail closed).
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, select, update

from exchange.audit.writer import IdempotentInsert
from exchange.consent.models import ConsentRequest
from exchange.consent.settings import ConsentSettings
from protocol.clock import as_utc

CR = ConsentRequest.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__


def new_id() -> str:
    """A fresh consent request id."""
    return uuid.uuid4().hex


def granted(
    *, engine: Engine, consumer: str, subject_index: str, service_item: str, case_no: str, now: datetime
) -> set[str]:
    """The elements the subject consented to for this department, service item and case, still valid."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(CR.c.elements, CR.c.grant_until).where(
                CR.c.consumer == consumer,
                CR.c.subject_index == subject_index,
                CR.c.service_item == service_item,
                CR.c.case_no == case_no,
                CR.c.state == "approved",
            )
        ).all()
    return {e for r in rows if r.grant_until is not None and as_utc(r.grant_until) > now for e in r.elements}


def request_row(
    *,
    consent_id: str,
    consumer: str,
    system: str | None,
    on_behalf_of: str,
    subject_type: str,
    subject_index: str,
    subject_sealed: bytes,
    elements: Sequence[str],
    service_item: str,
    case_no: str,
    query_id: str,
    now: datetime,
    settings: ConsentSettings,
) -> IdempotentInsert:
    """A new request's row, committed by the audit writer with the query's release."""
    return IdempotentInsert(
        CR,
        {
            "id": consent_id,
            "consumer": consumer,
            "system": system,
            "on_behalf_of": on_behalf_of,
            "subject_type": subject_type,
            "subject_index": subject_index,
            "subject_sealed": subject_sealed,
            "elements": list(elements),
            "service_item": service_item,
            "case_no": case_no,
            "query_id": query_id,
            "state": "pending",
            "created_at": now,
            "expires_at": now + timedelta(seconds=settings.request_ttl_s),
            "answered_at": None,
            "grant_until": None,
            "answer_sealed": None,
        },
    )


def get(*, engine: Engine, consent_id: str) -> Row[Any] | None:
    """One request, or None."""
    with engine.connect() as conn:
        return conn.execute(select(CR).where(CR.c.id == consent_id)).first()


def of_subject(*, engine: Engine, subject_index: str, limit: int = 100) -> Sequence[Row[Any]]:
    """The subject's requests, newest first."""
    with engine.connect() as conn:
        return conn.execute(
            select(CR)
            .where(CR.c.subject_index == subject_index)
            .order_by(CR.c.created_at.desc())
            .limit(limit)
        ).all()


def state_now(row: Any, now: datetime) -> str:
    """The request's state as of now: a pending one past its expiry is expired."""
    if row.state == "pending" and as_utc(row.expires_at) <= now:
        return "expired"
    return str(row.state)


def answer(*, engine: Engine, row: Any, to: str, now: datetime, settings: ConsentSettings) -> bool:
    """Move a pending request to approved, refused or expired; False if it was no longer pending."""
    values: dict[str, Any] = {"state": to, "answered_at": now if to != "expired" else None}
    if to == "approved":
        values["grant_until"] = now + timedelta(seconds=settings.grant_ttl_s)
    with engine.begin() as conn:
        done = conn.execute(update(CR).where(CR.c.id == row.id, CR.c.state == "pending").values(**values))
    return done.rowcount == 1


def store_answer(*, engine: Engine, consent_id: str, sealed: bytes) -> None:
    """Keep the consented elements' answer (sealed) for the asking department to fetch."""
    with engine.begin() as conn:
        conn.execute(update(CR).where(CR.c.id == consent_id).values(answer_sealed=sealed))
