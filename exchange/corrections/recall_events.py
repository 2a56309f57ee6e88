"""Sending the correction recall (`correction.recall`, protocol/recall.py) of a fixed correction.

On a fix the exchange finds from its audit chain every department that received the old value within
the recall window (recall.py `receivers_of`), and publishes one event for the correction: one copy per
receiver, signed by the gateway and encrypted to the receiver, tracked like any delivery (sent ->
delivered -> acknowledged, redelivered until then; exchange/events). The event id is derived from the
correction (`recall-<id>`), and the rows are idempotent inserts, so a recall made twice (the API's own
call after the fix, the periodic sweep that catches a gateway that stopped in between, another
gateway's sweep) is one event. The records (`event.published`, one `event.routed` per receiver) are
committed with the rows by the audit writer, before any copy goes to Kafka (fail closed).
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from exchange.audit import records
from exchange.audit.events import AuditAction
from exchange.audit.writer import IdempotentInsert
from exchange.corrections.models import Correction
from exchange.corrections.recall import receivers_of
from exchange.crypto import PlatformKeys
from exchange.events import service as events
from exchange.events.models import Event
from exchange.events.redelivery import send_copy
from exchange.periodic import PeriodicTask
from exchange.request_signing import RequestSigner
from exchange.transport.base import Transport
from protocol.clock import as_utc, utcnow
from protocol.event_copies import EventClaims, EventSubject, seal_copy
from protocol.jose import canonical, import_public
from protocol.recall import PLATFORM_PUBLISHER, RECALL_TYPE, RecallPayload, recall_event_id
from registry.keys.directory import KeyDirectory

log = logging.getLogger(__name__)
C = Correction.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
EV = Event.__table__  # type: ignore[attr-defined]


def subject_context(correction_id: str) -> bytes:
    """The sealing context of a correction's subject identifier (the gateway's own sealing key)."""
    return f"correction-subject:{correction_id}".encode()


@dataclass(frozen=True, kw_only=True)
class Recaller:
    """Publishes the recall of fixed corrections: at once after a fix, and in a periodic sweep."""

    engine: Engine
    writer: Any
    transport: Transport
    key_directory: KeyDirectory
    platform_keys: PlatformKeys
    signer: RequestSigner
    gateway_id: str
    window: timedelta
    check_s: float
    first_retry_s: float

    async def recall(self, row: Any) -> str | None:
        """Publish the recall of one fixed correction (idempotent); its event id, or None when nobody
        else received the value (nothing to tell) or the subject is not known (a pre-recall filing)."""
        if row.subject_sealed is None:
            log.warning("correction %s has no sealed subject (filed before recalls): not recalled", row.id)
            return None
        fixed_at = as_utc(row.closed_at or row.updated_at)
        receivers = await asyncio.to_thread(
            receivers_of,
            engine=self.engine,
            element=row.element,
            subject_index=row.subject_index,
            since=fixed_at - self.window,
            until=fixed_at,
        )
        receivers.pop(row.source, None)  # the source fixed it itself
        if not receivers:
            return None
        event_id = recall_event_id(row.id)
        if await asyncio.to_thread(events.get_event, engine=self.engine, event_id=event_id) is None:
            await self._publish(row, event_id, receivers, fixed_at)
        await self._send(event_id)
        return event_id

    async def _publish(
        self, row: Any, event_id: str, receivers: dict[str, list[str]], fixed_at: datetime
    ) -> None:
        subject_id = self.platform_keys.unseal(row.subject_sealed, context=subject_context(row.id)).decode()
        routing = {"element": row.element, "correction_id": row.id}
        keys = events.recipient_keys(await self.key_directory.current(), sorted(receivers))
        key, kid = self.signer.signing_key()
        now = utcnow()
        copies = {}
        for r in keys:
            payload = RecallPayload(
                correction_id=row.id,
                element=row.element,
                source=row.source,
                query_ids=receivers[r.department],
                fixed_at=fixed_at,
                note=row.state_reason,
            )
            claims = EventClaims(
                event_id=event_id,
                type=RECALL_TYPE,
                publisher=PLATFORM_PUBLISHER,
                subject=EventSubject(type=row.subject_type, id=subject_id),
                routing=routing,
                payload=payload.model_dump(mode="json"),
                recipient=r.department,
                published_at=now,
            )
            copies[r.department] = seal_copy(
                claims,
                signing_key=key,
                signing_kid=kid,
                recipient_key=import_public(r.jwk, use="enc", profile=self.signer.profile),
                recipient_kid=r.kid,
                profile=self.signer.profile,
            )
        rows = _rows(
            row, event_id, routing, copies, gateway_id=self.gateway_id, now=now, retry_s=self.first_retry_s
        )
        step = {
            "gateway": self.gateway_id,
            "department": None,  # the exchange itself, from its audit chain
            "system": None,
            "event_id": event_id,
            "event_type": RECALL_TYPE,
            "subject_index": row.subject_index,
        }
        audit = [
            records.event_step(AuditAction.EVENT_PUBLISHED, **step),
            *(records.event_step(AuditAction.EVENT_ROUTED, recipient=d, **step) for d in sorted(copies)),
        ]
        await self.writer.write(audit, rows)

    async def _send(self, event_id: str) -> None:
        """Put each copy not yet delivered on its topic now (a failure is left to the redelivery task)."""
        deliveries, event = await asyncio.to_thread(_unsent, self.engine, event_id)
        for delivery in deliveries:
            try:
                await send_copy(self.transport, delivery, event)
            except Exception:
                log.exception("recall copy %s not sent now; redelivered later", delivery.id)

    async def sweep(self, limit: int = 100) -> int:
        """Recall every fixed correction that has no recall event yet; how many were published."""
        due = await asyncio.to_thread(_fixed_without_recall, self.engine, limit)
        sent = 0
        for row in due:
            if await self.recall(row) is not None:
                sent += 1
        return sent


def _rows(
    row: Any, event_id: str, routing: dict[str, Any], copies: dict[str, str], *,
    gateway_id: str, now: datetime, retry_s: float,
) -> list[IdempotentInsert]:  # fmt: skip
    event = {
        "id": event_id,
        "type": RECALL_TYPE,
        "publisher": PLATFORM_PUBLISHER,
        "published_by": gateway_id,
        "subject_type": row.subject_type,
        "subject_index": row.subject_index,
        "routing": routing,
        "body_digest": hashlib.sha256(
            canonical({"recall": row.id, "recipients": sorted(copies)})
        ).hexdigest(),
        "published_at": now,
    }
    deliveries = [
        events.delivery_row(event_id, dept, copy, now=now, first_retry_s=retry_s)
        for dept, copy in sorted(copies.items())
    ]
    return [IdempotentInsert(events.EV, event), *(IdempotentInsert(events.DL, d) for d in deliveries)]


def _unsent(engine: Engine, event_id: str) -> tuple[list[Any], Any]:
    with engine.connect() as conn:
        deliveries = conn.execute(
            select(events.DL).where(events.DL.c.event_id == event_id, events.DL.c.state == "sent")
        ).all()
        event = conn.execute(select(EV).where(EV.c.id == event_id)).one()
    return list(deliveries), event


def _fixed_without_recall(engine: Engine, limit: int) -> list[Any]:
    """Fixed corrections whose recall event does not exist (the sweep's work)."""
    with engine.connect() as conn:
        fixed = conn.execute(
            select(C).where(C.c.state == "fixed", C.c.subject_sealed.is_not(None)).order_by(C.c.closed_at)
        ).all()
        if not fixed:
            return []
        ids = [recall_event_id(r.id) for r in fixed]
        done = set(conn.execute(select(EV.c.id).where(EV.c.id.in_(ids))).scalars())
    return [r for r in fixed if recall_event_id(r.id) not in done][:limit]


def recall_sweep(recaller: Recaller) -> PeriodicTask:
    """The periodic `Recaller.sweep` of the gateway's lifespan (recalls a stopped gateway missed)."""
    return PeriodicTask("shuyuan-correction-recall", recaller.check_s, recaller.sweep)
