"""Consent API: the citizen's requests and answers (ID token), and the asking department's view.

The citizen's routes are authenticated by the OpenID Connect ID token, like their view of accesses
(exchange/transparency/api.py); `/v1/transparency/consents` is on the public list of
exchange/auth/fastapi.py for that reason. Only the subject a request is about may answer it
(`403 not_the_subject`, audited). On approval the gateway asks the consented elements at once, as the
department's query `consent-<id>` through the ordinary query path (the same rules, audit and
encryption to the department), and keeps the answer for the department to fetch.
"""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path

from exchange.audit import records
from exchange.audit.events import AuditAction
from exchange.auth.core import Principal
from exchange.auth.fastapi import include_protected, require_scope
from exchange.consent import service
from exchange.consent.gate import subject_context
from exchange.consent.models import (
    CONSENT_ID_PATTERN,
    ConsentDecisionIn,
    ConsentForCitizen,
    ConsentForConsumer,
)
from exchange.deps import GatewayStateDep
from exchange.queries.models import PurposeIn, QueryIn, QueryOut, SubjectIn
from exchange.state import GatewayState
from exchange.transparency.api import signed_in_citizen
from exchange.transparency.oidc import Citizen
from exchange.transparency.service import registry_names
from protocol.errors import Conflict, Denied, NotFound, ShuyuanError
from protocol.reasons import Reason
from web.problems import PROBLEM_JSON

log = logging.getLogger(__name__)
CITIZEN_PATH = "/v1/transparency/consents"
CITIZEN = "citizen"
ID = Path(pattern=CONSENT_ID_PATTERN, description="the consent request's id")
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
citizen_router = APIRouter(tags=["exchange: consent"])
consumer_router = APIRouter(prefix="/v1/consents", tags=["exchange: consent"])
SignedIn = Annotated[Citizen, Depends(signed_in_citizen)]


class Expired(ShuyuanError):
    """The request was not answered in time."""

    status = 410
    reason = Reason.CONSENT_EXPIRED


def _context(consent_id: str) -> bytes:
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


async def _current(state: GatewayState, row: Any) -> Any:
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


def _for_citizen(row: Any, names: dict[str, dict[str, str]]) -> ConsentForCitizen:
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


def _names(state: GatewayState, rows: list[Any]) -> dict[str, dict[str, str]]:
    with state.engine.connect() as conn:
        return registry_names(
            conn,
            departments={r.consumer for r in rows},
            items={r.service_item for r in rows},
            elements={e for r in rows for e in r.elements},
        )


@citizen_router.get(
    CITIZEN_PATH,
    response_model=list[ConsentForCitizen],
    responses={401: {"description": "`unauthenticated`: no valid ID token", **_PROBLEM}},
)
async def my_consents(state: GatewayStateDep, citizen: SignedIn) -> Any:
    """The consent requests about me, newest first: who asks which elements, for which service and case."""
    index = state.platform_keys.blind_index(citizen.subject_type, citizen.subject_id)
    rows = await asyncio.to_thread(service.of_subject, engine=state.engine, subject_index=index)
    current = [await _current(state, r) for r in rows]
    names = await asyncio.to_thread(_names, state, current)
    return [_for_citizen(r, names) for r in current]


@citizen_router.post(
    f"{CITIZEN_PATH}/{{consent_id}}",
    response_model=ConsentForCitizen,
    responses={
        401: {"description": "`unauthenticated`: no valid ID token", **_PROBLEM},
        403: {"description": "`not_the_subject`: the request is about someone else", **_PROBLEM},
        404: {"description": "`not_found`: no such request", **_PROBLEM},
        409: {"description": "`consent_already_answered`", **_PROBLEM},
        410: {"description": "`consent_expired`: it waited too long", **_PROBLEM},
    },
)
async def answer_consent(
    state: GatewayStateDep, citizen: SignedIn, consent_id: Annotated[str, ID], body: ConsentDecisionIn
) -> Any:
    """Approve or refuse a request about me; on approval the department's answer is made at once."""
    row = await asyncio.to_thread(service.get, engine=state.engine, consent_id=consent_id)
    if row is None:
        raise NotFound(f"no consent request {consent_id}")
    index = state.platform_keys.blind_index(citizen.subject_type, citizen.subject_id)
    refusal: ShuyuanError | None = None
    row = await _current(state, row)
    if row.subject_index != index:
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
    approve = body.decision == "approve"
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
        await _complete(state, row)
    names = await asyncio.to_thread(_names, state, [row])
    return _for_citizen(row, names)


async def _complete(state: GatewayState, row: Any) -> QueryOut | None:
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
    sealed = state.platform_keys.seal(out.model_dump_json().encode(), context=_context(row.id))
    await asyncio.to_thread(service.store_answer, engine=state.engine, consent_id=row.id, sealed=sealed)
    return out


@consumer_router.get(
    "/{consent_id}",
    response_model=ConsentForConsumer,
    responses={404: {"description": "`not_found`: no such request of the caller's department", **_PROBLEM}},
)
async def get_consent(
    state: GatewayStateDep,
    principal: Annotated[Principal, Depends(require_scope("query"))],
    consent_id: Annotated[str, ID],
) -> Any:
    """A consent request the department's query made: its state and, once approved, the answer."""
    row = await asyncio.to_thread(service.get, engine=state.engine, consent_id=consent_id)
    if row is None or row.consumer != principal.department:
        raise NotFound(f"no consent request {consent_id} of department {principal.department!r}")
    row = await _current(state, row)
    answer: QueryOut | None = None
    if row.answer_sealed is not None:
        answer = QueryOut.model_validate_json(
            state.platform_keys.unseal(row.answer_sealed, context=_context(row.id))
        )
    elif row.state == "approved":
        answer = await _complete(state, row)  # the first attempt did not make it: once more now
    return ConsentForConsumer(
        id=row.id,
        query_id=row.query_id,
        elements=list(row.elements),
        state=row.state,
        created_at=row.created_at,
        expires_at=row.expires_at,
        answered_at=row.answered_at,
        answer=answer,
    )


def install_consent(app: FastAPI) -> None:
    """Mount the consent routes (the citizen's by ID token, the department's by access token)."""
    app.include_router(citizen_router)
    include_protected(app, consumer_router, require_scope("query"))
