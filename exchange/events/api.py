"""Events API (双告知): ask for recipients, publish, follow deliveries; docs/events.md.

Publishing takes two steps because the gateway never sees the payload: the publisher first asks who
receives the event and with which key (`POST /v1/events/recipients`), encrypts one signed copy to
each, then sends the copies (`POST /v1/events`), where the gateway decides again and refuses copies
for another set of recipients (`recipients_changed`: ask again). Every step is on the audit chain
before it takes effect: the event and its deliveries are committed with `event.published` and the
`event.routed` records by the audit writer itself, before any copy goes to Kafka.
"""

import asyncio
import functools
import logging
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response, status

from exchange.audit import records
from exchange.audit.events import AuditAction
from exchange.auth.core import Principal
from exchange.auth.fastapi import include_protected, require_scope
from exchange.deps import GatewayStateDep
from exchange.events import service, steward
from exchange.events.models import (
    DELIVERY_ID_PATTERN,
    MAX_COPY_CHARS,
    CopyOut,
    DeadLetterIn,
    DeliveryRead,
    DeliveryState,
    EventIn,
    EventRead,
    RecipientsIn,
    RecipientsOut,
)
from exchange.events.redelivery import send_copy
from exchange.state import GatewayState
from protocol.clock import utcnow
from protocol.errors import Conflict, Denied, InvalidRequest, ShuyuanError
from protocol.event_copies import EVENT_ID_PATTERN
from protocol.identifiers import InvalidSubjectId, normalise_subject_id
from protocol.jose import JoseFailure, peek_header
from protocol.reasons import Reason
from registry.deps import PageDep
from registry.pagination import Page
from web.problems import PROBLEM_JSON

log = logging.getLogger(__name__)
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
events = APIRouter(prefix="/v1/events", tags=["exchange: events"])
deliveries = APIRouter(prefix="/v1/deliveries", tags=["exchange: events"])
EventsPrincipal = Annotated[Principal, Depends(require_scope("events"))]
DELIVERY_PATH = Path(pattern=DELIVERY_ID_PATTERN, description="the delivery's id")
_MOVE_ACTION = {
    "delivered": AuditAction.EVENT_DELIVERED,
    "acknowledged": AuditAction.EVENT_ACKNOWLEDGED,
    "dead_lettered": AuditAction.EVENT_DEAD_LETTERED,
}


def _subject_index(state: GatewayState, body: RecipientsIn) -> str:
    try:
        subject_id = normalise_subject_id(body.subject.type, body.subject.id)
    except InvalidSubjectId as exc:
        raise InvalidRequest(exc.detail, reason=Reason.INVALID_SUBJECT_ID) from exc
    return state.platform_keys.blind_index(body.subject.type, subject_id)


async def _refuse(
    state: GatewayState, principal: Principal, body: RecipientsIn, index: str, exc: ShuyuanError
) -> NoReturn:
    """Audit a refused publish (event id `-` before one is given), then raise it, marked audited."""
    record = records.event_step(
        AuditAction.EVENT_REFUSED,
        gateway=state.settings.gateway_id,
        department=principal.department,
        system=principal.client_id,
        event_id=getattr(body, "event_id", "-"),
        event_type=body.type,
        subject_index=index,
        reason=exc.reason.value,
    )
    await state.audit_writer.write([record])
    exc.audited = True
    raise exc


async def _recipients(state: GatewayState, principal: Principal, body: RecipientsIn, index: str) -> list[str]:
    try:
        return service.recipients_or_raise(
            await state.catalogue.current(),
            publisher=principal.department,
            event_type=body.type,
            routing=body.routing,
        )
    except ShuyuanError as exc:
        await _refuse(state, principal, body, index, exc)


@events.post(
    "/recipients",
    response_model=RecipientsOut,
    responses={
        400: {"description": "`invalid_subject_id`, `invalid_event_payload`", **_PROBLEM},
        403: {"description": "`unknown_event_type`, `not_event_source`", **_PROBLEM},
    },
)
async def event_recipients(state: GatewayStateDep, body: RecipientsIn, principal: EventsPrincipal) -> Any:
    """The departments that receive this event now, each with the encryption key its copy goes to."""
    index = _subject_index(state, body)
    recipients = await _recipients(state, principal, body, index)
    keys = service.recipient_keys(await state.key_directory.current(), recipients)
    return RecipientsOut(type=body.type, recipients=keys)


def _check_copies(state_keys: Any, body: EventIn, recipients: list[str]) -> str | None:
    """Why the copies do not fit the recipients and their current keys, or None."""
    if set(body.copies) != set(recipients):
        return f"copies for {sorted(body.copies)}, but the recipients are {recipients}"
    for dept, copy in body.copies.items():
        if len(copy) > MAX_COPY_CHARS or copy.count(".") != 4:
            raise InvalidRequest(f"the copy for {dept!r} is not a JWE compact of acceptable size")
        try:
            kid = str(peek_header(copy).get("kid"))
        except JoseFailure as exc:
            raise InvalidRequest(f"the copy for {dept!r}: {exc.detail}") from exc
        if state_keys.find(dept, "enc", kid) is None:
            return f"the copy for {dept!r} is encrypted to a key that is not its valid key"
    return None


@events.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EventRead,
    responses={
        200: {"description": "the same event_id and body again: the stored event"},
        400: {"description": "`invalid_subject_id`, `invalid_event_payload`, `invalid_request`", **_PROBLEM},
        403: {"description": "`unknown_event_type`, `not_event_source`", **_PROBLEM},
        409: {"description": "`recipients_changed` (ask again), `conflict` (event_id reused)", **_PROBLEM},
    },
)
async def publish_event(
    state: GatewayStateDep, body: EventIn, principal: EventsPrincipal, response: Response
) -> Any:
    """Publish an event: one copy per recipient, audited, stored, then put on each recipient's topic."""
    engine, dept = state.engine, principal.department
    index = _subject_index(state, body)
    existing = await asyncio.to_thread(service.get_event, engine=engine, event_id=body.event_id)
    if existing is not None:
        if existing.publisher != dept or existing.body_digest != service.body_digest(body):
            raise Conflict(f"event {body.event_id!r} was published with another body")
        response.status_code = status.HTTP_200_OK
        return await asyncio.to_thread(
            service.read_event, engine=engine, event_id=body.event_id, publisher=dept
        )
    recipients = await _recipients(state, principal, body, index)
    problem = _check_copies(await state.key_directory.current(), body, recipients)
    if problem is not None:
        await _refuse(state, principal, body, index, Conflict(problem, reason=Reason.RECIPIENTS_CHANGED))
    gateway, settings = state.settings.gateway_id, state.events.settings
    step = functools.partial(
        records.event_step,
        gateway=gateway,
        department=dept,
        system=principal.client_id,
        event_id=body.event_id,
        event_type=body.type,
        subject_index=index,
    )
    audit = [
        step(AuditAction.EVENT_PUBLISHED),
        *(step(AuditAction.EVENT_ROUTED, recipient=r) for r in recipients),
    ]
    rows = service.rows(
        body,
        publisher=dept,
        system=principal.client_id,
        subject_index=index,
        now=utcnow(),
        first_retry_s=settings.backoff_s,
    )
    await state.audit_writer.write(audit, rows)  # the records, the event and its deliveries together
    # The first insert wins (IdempotentInsert): a concurrent publish of the same id with another body
    # may have won, and then none of these copies is sent.
    existing = await asyncio.to_thread(service.get_event, engine=engine, event_id=body.event_id)
    if existing is None or existing.publisher != dept or existing.body_digest != service.body_digest(body):
        raise Conflict(f"event {body.event_id!r} was published with another body meanwhile")
    stored = await asyncio.to_thread(
        service.read_event, engine=engine, event_id=body.event_id, publisher=dept
    )
    for delivery in stored.deliveries:
        row, event = await asyncio.to_thread(
            service.delivery_or_raise, engine=engine, delivery_id=delivery.id, recipient=None
        )
        try:
            await send_copy(state.transport, row, event)
        except Exception:  # stored and audited: the redelivery task sends it again (docs/events.md)
            log.exception("copy %s to %s not sent now; redelivered later", delivery.id, delivery.recipient)
    return stored


@events.get(
    "/{event_id}",
    response_model=EventRead,
    responses={404: {"description": "`not_found`: no such event of the caller's department", **_PROBLEM}},
)
async def get_event(
    state: GatewayStateDep,
    principal: EventsPrincipal,
    event_id: Annotated[str, Path(pattern=EVENT_ID_PATTERN)],
) -> Any:
    """An event the caller's department published, with each delivery's state."""
    return await asyncio.to_thread(
        service.read_event, engine=state.engine, event_id=event_id, publisher=principal.department
    )


@deliveries.get("", response_model=Page[DeliveryRead])
async def list_deliveries(
    state: GatewayStateDep,
    principal: EventsPrincipal,
    page: PageDep,
    state_: Annotated[DeliveryState | None, Query(alias="state")] = None,
) -> Any:
    """The deliveries to the caller's department, newest first."""
    items, total = await asyncio.to_thread(
        service.list_deliveries, engine=state.engine, recipient=principal.department, state=state_, page=page
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


async def _move(
    state: GatewayState, principal: Principal, delivery_id: str, to: str, reason: str | None = None
) -> Any:
    engine = state.engine
    row, event = await asyncio.to_thread(
        service.delivery_or_raise, engine=engine, delivery_id=delivery_id, recipient=principal.department
    )
    if row.state in service.MOVES[to]:  # otherwise already there or past it: idempotent, nothing to record
        record = records.event_step(
            _MOVE_ACTION[to],
            gateway=state.settings.gateway_id,
            department=principal.department,
            system=principal.client_id,
            event_id=event.id,
            event_type=event.type,
            subject_index=event.subject_index,
            recipient=row.recipient,
            reason=reason,
        )
        await state.audit_writer.write([record])  # recorded before it takes effect
        await asyncio.to_thread(service.move, engine=engine, delivery=row, to=to, now=utcnow(), reason=reason)
        row, event = await asyncio.to_thread(
            service.delivery_or_raise, engine=engine, delivery_id=delivery_id, recipient=principal.department
        )
    return service.read_delivery(row, event)


_NOT_YOURS: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no such delivery to the caller's department", **_PROBLEM}
}


@deliveries.get("/{delivery_id}", response_model=DeliveryRead, responses=_NOT_YOURS)
async def get_delivery(
    state: GatewayStateDep, principal: EventsPrincipal, delivery_id: Annotated[str, DELIVERY_PATH]
) -> Any:
    """One delivery to the caller's department (its routing is what the gateway routed on)."""
    row, event = await asyncio.to_thread(
        service.delivery_or_raise,
        engine=state.engine,
        delivery_id=delivery_id,
        recipient=principal.department,
    )
    return service.read_delivery(row, event)


@deliveries.get("/{delivery_id}/copy", response_model=CopyOut, responses=_NOT_YOURS)
async def get_copy(
    state: GatewayStateDep, principal: EventsPrincipal, delivery_id: Annotated[str, DELIVERY_PATH]
) -> Any:
    """The recipient's copy and the headers it travels with on Kafka, for a department that pulls its
    events over HTTP instead (docs/events.md, "Pulling"): still a JWE only the recipient can open."""
    row, event = await asyncio.to_thread(
        service.delivery_or_raise,
        engine=state.engine,
        delivery_id=delivery_id,
        recipient=principal.department,
    )
    return CopyOut(copy_jwe=row.copy_jwe, headers={k: v.decode() for k, v in service.headers_of(row, event)})


@deliveries.post("/{delivery_id}/delivered", response_model=DeliveryRead, responses=_NOT_YOURS)
async def delivered(
    state: GatewayStateDep, principal: EventsPrincipal, delivery_id: Annotated[str, DELIVERY_PATH]
) -> Any:
    """The recipient opened and verified its copy (idempotent)."""
    return await _move(state, principal, delivery_id, "delivered")


@deliveries.post("/{delivery_id}/ack", response_model=DeliveryRead, responses=_NOT_YOURS)
async def acknowledge(
    state: GatewayStateDep, principal: EventsPrincipal, delivery_id: Annotated[str, DELIVERY_PATH]
) -> Any:
    """The recipient's application handled the event: no more redeliveries (idempotent)."""
    return await _move(state, principal, delivery_id, "acknowledged")


@deliveries.post("/{delivery_id}/dead_lettered", response_model=DeliveryRead, responses=_NOT_YOURS)
async def dead_lettered(
    state: GatewayStateDep,
    principal: EventsPrincipal,
    delivery_id: Annotated[str, DELIVERY_PATH],
    body: DeadLetterIn,
) -> Any:
    """The recipient could not open or verify its copy and dead-lettered it, for this reason."""
    return await _move(state, principal, delivery_id, "dead_lettered", body.reason)


@deliveries.post(
    "/{delivery_id}/redeliver",
    response_model=DeliveryRead,
    responses={
        403: {
            "description": "`forbidden`: not a data steward's system (scope `registry:steward`)",
            **_PROBLEM,
        },
        404: {"description": "`not_found`: no such delivery", **_PROBLEM},
        409: {"description": "`invalid_transition`: not dead-lettered or overdue; `conflict`", **_PROBLEM},
    },
)
async def redeliver(
    state: GatewayStateDep, principal: EventsPrincipal, delivery_id: Annotated[str, DELIVERY_PATH]
) -> Any:
    """A data steward sends a dead-lettered or overdue delivery's stored copy again (audited first)."""
    if not principal.has("registry:steward"):
        raise Denied("only a data steward redelivers a delivery", reason=Reason.FORBIDDEN)
    return await steward.redeliver(
        state, delivery_id=delivery_id, department=principal.department, system=principal.client_id
    )


def install_events(app: FastAPI) -> None:
    """Mount the events routes on the gateway app (called by the app factory)."""
    include_protected(app, events, require_scope("events"))
    include_protected(app, deliveries, require_scope("events"))
