"""Corrections API (纠错): file, read, list and move corrections; docs/corrections.md.

Included with `include_protected(..., require_scope("corrections"))`. The caller's roles come from
its token: its department (filer or source of a correction) and `registry:steward` (a data steward).

Fail closed: every step is on the audit chain before it takes effect. A filing is committed with its
`correction.filed` record by the audit writer itself (`alongside`, as a query's idempotency record:
one transaction on the embedded path, the record acknowledged first on the Kafka path). A move is an
update, which the writer cannot carry: its record is written first, then the row is updated only if
nobody changed it meanwhile (a lost race leaves a record of an attempt, never a change unrecorded).
"""

import asyncio
import logging
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, status

from exchange.audit import records
from exchange.audit.events import AuditAction
from exchange.auth.core import Principal
from exchange.auth.fastapi import include_protected, require_scope
from exchange.corrections import service
from exchange.corrections.disputes import DisputeIndex
from exchange.corrections.errors import NotFixed, NotReceived
from exchange.corrections.escalation import Escalator
from exchange.corrections.models import CorrectionIn, CorrectionRead, TransitionIn, read_of
from exchange.corrections.recall_events import Recaller, recall_sweep, subject_context
from exchange.corrections.settings import CorrectionsSettings
from exchange.corrections.states import STATES, State
from exchange.crypto import PlatformKeys
from exchange.deps import GatewayStateDep
from exchange.events import service as events
from exchange.events.models import EventRead
from exchange.request_signing import RequestSigner
from exchange.state import CorrectionsState, GatewayState
from exchange.transport.base import Transport
from protocol.clock import utcnow
from protocol.errors import Conflict, InvalidRequest
from protocol.identifiers import InvalidSubjectId, normalise_subject_id
from protocol.jose import JoseFailure, peek_header
from protocol.reasons import Reason
from protocol.recall import PLATFORM_PUBLISHER, RECALL_TYPE, recall_event_id
from registry.deps import PageDep
from registry.errors import Forbidden
from registry.keys.directory import KeyDirectory
from registry.pagination import Page
from web.problems import PROBLEM_JSON

log = logging.getLogger(__name__)
PATH = "/v1/corrections"
ID_PATH = Path(pattern=r"^[0-9a-f]{32}$", description="the correction's id")
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
router = APIRouter(prefix=PATH, tags=["exchange: corrections"])
CorrectionsPrincipal = Annotated[Principal, Depends(require_scope("corrections"))]
_STEP = {
    "accepted": AuditAction.CORRECTION_ACCEPTED,
    "in_progress": AuditAction.CORRECTION_IN_PROGRESS,
    "fixed": AuditAction.CORRECTION_FIXED,
    "rejected": AuditAction.CORRECTION_REJECTED,
    "wrong_source": AuditAction.CORRECTION_WRONG_SOURCE,
    "withdrawn": AuditAction.CORRECTION_WITHDRAWN,
    "reported": AuditAction.CORRECTION_FORWARDED,
}
assert set(_STEP) == set(STATES)


def _context(correction_id: str) -> bytes:
    return f"correction:{correction_id}".encode()


async def _check_proposed_value(state: GatewayState, token: str, source: str) -> None:
    """A proposed value must be a JWE to a valid encryption key of the source it is routed to.

    The gateway cannot open it (that is the point); it checks only what it can see, so that a value the
    source could never read is refused when filed, not found unreadable later.
    """
    try:
        header = peek_header(token)
    except JoseFailure as exc:
        raise InvalidRequest(f"proposed_value_jwe: {exc.detail}") from exc
    keys = await state.key_directory.current()
    algorithms = (keys.profile.jwe_alg, keys.profile.jwe_enc)
    if token.count(".") != 4 or (header.get("alg"), header.get("enc")) != algorithms:
        raise InvalidRequest(f"proposed_value_jwe must be a compact JWE {algorithms}")
    if keys.find(source, "enc", str(header.get("kid"))) is None:
        raise InvalidRequest(
            f"proposed_value_jwe is not encrypted to a valid key of {source!r}, the element's source"
        )


def _read(state: GatewayState, row: Any, principal: Principal) -> CorrectionRead:
    """The read model for this caller: the proposed value's JWE only for the filer and the source."""
    roles = service.roles_of(row, department=principal.department, steward=False)
    proposed = None
    if roles and row.proposed_sealed is not None:
        proposed = state.platform_keys.unseal(row.proposed_sealed, context=_context(row.id)).decode()
    return read_of(row, overdue=service.is_overdue(row, now=utcnow()), proposed_value_jwe=proposed)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CorrectionRead,
    responses={
        400: {"description": "`invalid_subject_id`, `invalid_request`", **_PROBLEM},
        403: {"description": "`not_received`: the department did not receive that value", **_PROBLEM},
        409: {"description": "`conflict`: the department already has an open correction of it", **_PROBLEM},
    },
)
async def file_correction(state: GatewayStateDep, body: CorrectionIn, principal: CorrectionsPrincipal) -> Any:
    """File a correction of a value the department received in a query; routed to the element's source."""
    try:
        subject_id = normalise_subject_id(body.subject.type, body.subject.id)
    except InvalidSubjectId as exc:
        raise InvalidRequest(exc.detail, reason=Reason.INVALID_SUBJECT_ID) from exc
    index = state.platform_keys.blind_index(body.subject.type, subject_id)
    engine, dept, gateway = state.engine, principal.department, state.settings.gateway_id
    answered_by = await asyncio.to_thread(
        service.received_from,
        engine=engine,
        department=dept,
        query_id=body.query_id,
        element=body.element,
        subject_index=index,
    )
    if answered_by is None:
        refusal = records.correction_refused(
            gateway=gateway,
            department=dept,
            system=principal.client_id,
            query_id=body.query_id,
            element=body.element,
            subject_index=index,
            reason=Reason.NOT_RECEIVED,
        )
        await state.audit_writer.write([refusal])
        raise NotReceived(  # audited just above: not again (auth/denials.py)
            f"department {dept!r} received no {body.element!r} about this subject in query {body.query_id!r}",
            audited=True,
        )
    existing = await asyncio.to_thread(
        service.open_duplicate, engine=engine, filer=dept, element=body.element, subject_index=index
    )
    if existing is not None:
        raise Conflict(f"correction {existing} of this value is still open", correction_id=existing)
    source = service.route(await state.catalogue.current(), body.element, answered_by)
    correction_id = service.new_id()
    sealed = None
    if body.proposed_value_jwe is not None:
        await _check_proposed_value(state, body.proposed_value_jwe, source)
        sealed = state.platform_keys.seal(body.proposed_value_jwe.encode(), context=_context(correction_id))
    row = service.filing(
        correction_id=correction_id,
        correction_in=body,
        filer=dept,
        filed_by=principal.client_id,
        source=source,
        subject_index=index,
        proposed_sealed=sealed,
        subject_sealed=state.platform_keys.seal(subject_id.encode(), context=subject_context(correction_id)),
        now=utcnow(),
        calendar=state.registry_settings.calendar(),
        settings=state.corrections.settings,
    )
    filed = records.correction_step(
        AuditAction.CORRECTION_FILED,
        gateway=gateway,
        department=dept,
        system=principal.client_id,
        correction_id=correction_id,
        element=body.element,
        subject_index=index,
        source=source,
    )
    await state.audit_writer.write([filed], row)  # the record and the row commit together
    state.corrections.disputes.invalidate()  # the very next answer of this value carries the flag
    stored = await asyncio.to_thread(service.get_or_raise, engine=engine, correction_id=correction_id)
    return _read(state, stored, principal)


@router.get("", response_model=Page[CorrectionRead])
async def list_corrections(
    state: GatewayStateDep,
    principal: CorrectionsPrincipal,
    page: PageDep,
    state_: Annotated[State | None, Query(alias="state")] = None,
    role: Annotated[
        Literal["filed", "to_fix"] | None,
        Query(
            description="`filed`: the department's own; `to_fix`: routed to it; none: both (stewards: all)"
        ),
    ] = None,
    overdue: Annotated[bool, Query(description="only open ones past a deadline")] = False,
) -> Any:
    """Corrections the caller may see, newest first."""
    rows, total = await asyncio.to_thread(
        service.list_,
        engine=state.engine,
        department=principal.department,
        steward=principal.has("registry:steward"),
        role=role,
        state=state_,
        overdue=overdue,
        now=utcnow(),
        page=page,
    )
    items = [_read(state, r, principal) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{correction_id}",
    response_model=CorrectionRead,
    responses={404: {"description": "`not_found`: no such correction, or not the caller's", **_PROBLEM}},
)
async def get_correction(
    state: GatewayStateDep, principal: CorrectionsPrincipal, correction_id: Annotated[str, ID_PATH]
) -> Any:
    """One correction, for its filer, its source and the stewards."""
    row = await asyncio.to_thread(
        service.visible_or_raise,
        engine=state.engine,
        correction_id=correction_id,
        department=principal.department,
        steward=principal.has("registry:steward"),
    )
    return _read(state, row, principal)


@router.post(
    "/{correction_id}/transitions",
    response_model=CorrectionRead,
    responses={
        400: {"description": "`invalid_request`: e.g. no such department to forward to", **_PROBLEM},
        403: {"description": "`forbidden`: the move is for another role", **_PROBLEM},
        404: {"description": "`not_found`: no such correction, or not the caller's", **_PROBLEM},
        409: {"description": "`invalid_transition`, or `conflict` (changed meanwhile)", **_PROBLEM},
    },
)
async def move_correction(
    state: GatewayStateDep,
    principal: CorrectionsPrincipal,
    correction_id: Annotated[str, ID_PATH],
    body: TransitionIn,
) -> Any:
    """Move a correction: its source accepts, works on, fixes or rejects it, or says it is not its
    data; its filer withdraws it; a steward forwards it to another source (`to: reported`)."""
    engine, steward = state.engine, principal.has("registry:steward")
    row = await asyncio.to_thread(
        service.visible_or_raise,
        engine=engine,
        correction_id=correction_id,
        department=principal.department,
        steward=steward,
    )
    values = service.move(
        row,
        body,
        roles=service.roles_of(row, department=principal.department, steward=steward),
        catalogue=await state.catalogue.current(),
        now=utcnow(),
        calendar=state.registry_settings.calendar(),
        settings=state.corrections.settings,
    )
    record = records.correction_step(
        _STEP[body.to],
        gateway=state.settings.gateway_id,
        department=principal.department,
        system=principal.client_id,
        correction_id=row.id,
        element=row.element,
        subject_index=row.subject_index,
        source=values.get("source", row.source),
    )
    await state.audit_writer.write([record])  # recorded before it takes effect (module doc)
    stored = await asyncio.to_thread(service.apply, engine=engine, row=row, values=values)
    state.corrections.disputes.invalidate()  # closed: the flag goes from the very next answer
    if stored.state == "fixed":
        try:
            await state.corrections.recaller.recall(stored)  # the earlier receivers are told now
        except Exception:  # the fix stands; the periodic sweep publishes the recall (recall_events.py)
            log.exception("recall of correction %s not published now; the sweep retries", stored.id)
    return _read(state, stored, principal)


@router.post(
    "/{correction_id}/recall",
    response_model=EventRead | None,
    responses={
        200: {"description": "the recall event and its deliveries (`null`: nobody else received the value)"},
        403: {"description": "`forbidden`: only the correction's source or a steward", **_PROBLEM},
        404: {"description": "`not_found`: no such correction, or not the caller's", **_PROBLEM},
        409: {"description": "`correction_not_fixed`: only a fixed correction is recalled", **_PROBLEM},
    },
)
async def recall_correction(
    state: GatewayStateDep, principal: CorrectionsPrincipal, correction_id: Annotated[str, ID_PATH]
) -> Any:
    """The recall of a fixed correction to every department that received the old value: published
    at the fix already; asking again publishes it if it is missing, and shows its deliveries."""
    engine, steward = state.engine, principal.has("registry:steward")
    row = await asyncio.to_thread(
        service.visible_or_raise,
        engine=engine,
        correction_id=correction_id,
        department=principal.department,
        steward=steward,
    )
    if not steward and "source" not in service.roles_of(row, department=principal.department, steward=False):
        raise Forbidden("only the correction's source or a steward recalls it")
    if row.state != "fixed":
        refusal = records.event_step(
            AuditAction.EVENT_REFUSED,
            gateway=state.settings.gateway_id,
            department=principal.department,
            system=principal.client_id,
            event_id=recall_event_id(row.id),
            event_type=RECALL_TYPE,
            subject_index=row.subject_index,
            reason=Reason.CORRECTION_NOT_FIXED.value,
        )
        await state.audit_writer.write([refusal])
        raise NotFixed(
            f"correction {row.id} is {row.state}, not fixed: there is nothing to recall", audited=True
        )
    event_id = await state.corrections.recaller.recall(row)
    if event_id is None:
        return None
    return await asyncio.to_thread(
        events.read_event, engine=engine, event_id=event_id, publisher=PLATFORM_PUBLISHER
    )


def corrections_state(
    settings: CorrectionsSettings,
    *,
    engine: Any,
    writer: Any,
    gateway_id: str,
    transport: Transport,
    key_directory: KeyDirectory,
    platform_keys: PlatformKeys,
    signer: RequestSigner,
    first_retry_s: float,
) -> CorrectionsState:
    """Corrections' part of the gateway state (built by the app's lifespan)."""
    recaller = Recaller(
        engine=engine,
        writer=writer,
        transport=transport,
        key_directory=key_directory,
        platform_keys=platform_keys,
        signer=signer,
        gateway_id=gateway_id,
        window=timedelta(days=settings.recall_window_days),
        check_s=settings.recall_check_s,
        first_retry_s=first_retry_s,
    )
    return CorrectionsState(
        settings=settings,
        disputes=DisputeIndex(engine, max_age_s=settings.dispute_refresh_s),
        escalator=Escalator(engine=engine, writer=writer, gateway_id=gateway_id, check_s=settings.check_s),
        recaller=recaller,
        recall_sweep=recall_sweep(recaller),
    )


def install_corrections(app: FastAPI) -> None:
    """Mount the corrections routes on the gateway app (called by the app factory)."""
    include_protected(app, router, require_scope("corrections"))
