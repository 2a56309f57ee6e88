"""A steward's redelivery of a dead-lettered or overdue delivery: the one path (console, and any later API).

A copy is dead-lettered when its recipient could not open or verify it (a publisher's key not yet in
the directory, a recipient that lost its keys), overdue when it was never acknowledged within the
redelivery task's attempts (a subscriber that was down). Once the cause is fixed, a steward sends the
stored copy again: the same ciphertext the publisher sealed, so the gateway still never sees the
payload. Audited before it is stored (`event.redelivered`, the steward named as actor, reason
`steward_redelivery`), as every move of a delivery is (docs/events.md); then the copy is put on the
recipient's topic, and the redelivery task retries it with backoff as it does a new copy.
"""

import asyncio
import logging

from exchange.audit import records
from exchange.audit.events import AuditAction
from exchange.events import service
from exchange.events.models import DeliveryRead
from exchange.events.redelivery import send_copy
from exchange.state import GatewayState
from protocol.clock import utcnow
from protocol.errors import Conflict
from protocol.reasons import Reason

log = logging.getLogger(__name__)
STEWARD_REDELIVERY = "steward_redelivery"


async def redeliver(state: GatewayState, *, delivery_id: str, department: str, system: str) -> DeliveryRead:
    """Send a dead-lettered or overdue delivery's copy again (`invalid_transition` from any other state)."""
    engine = state.engine
    row, event = await asyncio.to_thread(
        service.delivery_or_raise, engine=engine, delivery_id=delivery_id, recipient=None
    )
    if row.state not in service.MOVES["sent"]:
        raise Conflict(
            f"delivery {delivery_id!r} is {row.state}: only a dead-lettered or overdue one is redelivered",
            reason=Reason.INVALID_TRANSITION,
        )
    record = records.event_step(
        AuditAction.EVENT_REDELIVERED,
        gateway=state.settings.gateway_id,
        department=department,
        system=system,
        event_id=event.id,
        event_type=event.type,
        subject_index=event.subject_index,
        recipient=row.recipient,
        reason=STEWARD_REDELIVERY,
    )
    await state.audit_writer.write([record])  # recorded before it takes effect (fail closed)
    moved = await asyncio.to_thread(
        service.resend,
        engine=engine,
        delivery=row,
        now=utcnow(),
        first_retry_s=state.events.settings.backoff_s,
    )
    if not moved:  # acknowledged (or redelivered by another steward) since it was read: nothing sent
        raise Conflict(f"delivery {delivery_id!r} changed meanwhile", reason=Reason.CONFLICT)
    row, event = await asyncio.to_thread(
        service.delivery_or_raise, engine=engine, delivery_id=delivery_id, recipient=None
    )
    try:
        await send_copy(state.transport, row, event)
    except Exception:  # stored as `sent`: the redelivery task sends it after the backoff
        log.exception("redelivered copy %s to %s not sent now; retried later", row.id, row.recipient)
    return service.read_delivery(row, event)
