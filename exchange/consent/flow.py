"""Consent's steps shared by the citizen's API and the citizen page: list a subject's requests, answer
one as its subject (audited before it takes effect), and make the department's answer on approval.

Only the subject a request is about may answer it (`not_the_subject`); the subject is named by its
blind index, which the API takes from the ID token and the citizen page from its signed-in session.
"""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from exchange.audit import records
from exchange.audit.events import AuditAction
from exchange.consent import service
from exchange.consent.gate import subject_context
from exchange.consent.models import ConsentForCitizen
from exchange.queries.models import PurposeIn, QueryIn, QueryOut, SubjectIn
from exchange.state import GatewayState
from exchange.transparency.service import registry_names
from protocol.errors import Conflict, Denied, NotFound, ShuyuanError
from protocol.reasons import Reason

log = logging.getLogger(__name__)
CITIZEN = "citizen"
ANSWERED = Reason.CONSENT_ALREADY_ANSWERED


class Expired(ShuyuanError):
    """The request was not answered in time."""

    status = 410
    reason = Reason.CONSENT_EXPIRED


def answer_context(consent_id: str) -> bytes:
    """The sealing context of a request's answer."""
    return f"consent-answer:{consent_id}".encode()


def _step(
    state: GatewayState, action: AuditAction, row: Any, *, actor: str | None, reason: str | None = None
) -> Any:
    return records.consent_step(
        action,
        gateway=state.settings.gateway_id,
        actor=actor,
        system=None,
        consent_id=row.id,
        consumer=row.consumer,
        elements=list(row.elements),
        subject_index=row.subject_index,
        service_item=row.service_item,
        case_no=row.case_no,
        reason=reason,
    )


async def current(state: GatewayState, row: Any) -> Any:
    """The row, moved to expired first (audited) when it waited past its expiry."""
    now = datetime.now(UTC)
    if service.state_now(row, now) == "expired" and row.state == "pending":
        await state.audit_writer.write([_step(state, AuditAction.CONSENT_EXPIRED, row, actor=None)])
        await asyncio.to_thread(
            service.answer,
            engine=state.engine,
            row=row,
            to="expired",
            now=now,
            settings=state.consent_settings,
        )
        row = await asyncio.to_thread(service.get, engine=state.engine, consent_id=row.id)
    return row


def for_citizen(row: Any, names: dict[str, dict[str, str]]) -> ConsentForCitizen:
    return ConsentForCitizen(
        id=row.id,
        department=row.consumer,
        department_name=names["department"].get(row.consumer),
        elements=list(row.elements),
        element_names=[names["element"].get(e) for e in row.elements],
        service_item=row.service_item,
        service_item_name=names["service_item"].get(row.service_item),
        case_no=row.case_no,
        state=row.state,
        created_at=row.created_at,
        expires_at=row.expires_at,
        answered_at=row.answered_at,
    )


def names_of(state: GatewayState, rows: list[Any]) -> dict[str, dict[str, str]]:
    with state.engine.connect() as conn:
        return registry_names(
            conn,
            departments={r.consumer for r in rows},
            items={r.service_item for r in rows},
            elements={e for r in rows for e in r.elements},
        )


async def of_subject(state: GatewayState, subject_index: str) -> list[ConsentForCitizen]:
    """The subject's requests, newest first, as they stand now (expired ones moved and audited)."""
    rows = await asyncio.to_thread(service.of_subject, engine=state.engine, subject_index=subject_index)
    now = [await current(state, r) for r in rows]
    names = await asyncio.to_thread(names_of, state, now)
    return [for_citizen(r, names) for r in now]


async def answer_as(
    state: GatewayState, *, subject_index: str, consent_id: str, approve: bool
) -> ConsentForCitizen:
    """Answer a request as the subject of `subject_index`; each refusal audited and raised."""
    row = await asyncio.to_thread(service.get, engine=state.engine, consent_id=consent_id)
    if row is None:
        raise NotFound(f"no consent request {consent_id}")
    refusal: ShuyuanError | None = None
    row = await current(state, row)
    if row.subject_index != subject_index:
        refusal = Denied(
            "only the person or enterprise it is about may answer it", reason=Reason.NOT_THE_SUBJECT
        )
    elif row.state == "expired":
        refusal = Expired(f"consent request {consent_id} expired unanswered")
    elif row.state != "pending":
        refusal = Conflict(
            f"consent request {consent_id} is {row.state}", reason=Reason.CONSENT_ALREADY_ANSWERED
        )
    if refusal is not None:
        denied = _step(state, AuditAction.CONSENT_DENIED, row, actor=CITIZEN, reason=refusal.reason.value)
        await state.audit_writer.write([denied])
        refusal.audited = True
        raise refusal
    action = AuditAction.CONSENT_APPROVED if approve else AuditAction.CONSENT_REFUSED
    await state.audit_writer.write([_step(state, action, row, actor=CITIZEN)])  # before it takes effect
    now = datetime.now(UTC)
    to = "approved" if approve else "refused"
    if not await asyncio.to_thread(
        service.answer, engine=state.engine, row=row, to=to, now=now, settings=state.consent_settings
    ):
        raise Conflict(
            f"consent request {consent_id} was answered meanwhile", reason=Reason.CONSENT_ALREADY_ANSWERED
        )
    row = await asyncio.to_thread(service.get, engine=state.engine, consent_id=consent_id)
    if approve:
        await complete(state, row)
    names = await asyncio.to_thread(names_of, state, [row])
    return for_citizen(row, names)


async def complete(state: GatewayState, row: Any) -> QueryOut | None:
    """Ask the consented elements now, as the department's query `consent-<id>`; keep the answer."""
    subject_id = state.platform_keys.unseal(row.subject_sealed, context=subject_context(row.id)).decode()
    query = QueryIn(
        query_id=f"consent-{row.id}",
        subject=SubjectIn(type=row.subject_type, id=subject_id),
        elements=list(row.elements),
        purpose=PurposeIn(service_item=row.service_item, case_no=row.case_no),
        on_behalf_of=row.on_behalf_of,
        requested_at=datetime.now(UTC),
    )
    try:
        out = await state.query_service.run(consumer=row.consumer, query=query, system=row.system)
    except ShuyuanError as exc:  # e.g. the audit path is down: asked again when the department looks
        log.warning("consent %s approved, its answer not made now: %s", row.id, exc.reason.value)
        return None
    sealed = state.platform_keys.seal(out.model_dump_json().encode(), context=answer_context(row.id))
    await asyncio.to_thread(service.store_answer, engine=state.engine, consent_id=row.id, sealed=sealed)
    return out
