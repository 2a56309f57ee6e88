"""The periodic redelivery of unacknowledged copies, with exponential backoff, then `overdue`.

Runs in every gateway's lifespan. Two gateways may pick the same due delivery; the conditional
update (service.reschedule) lets one of them claim the attempt, and a duplicate copy is harmless
anyway (the subscriber dedupes by event id, the ack is idempotent). Each redelivery and each overdue
delivery is audited before it happens (fail closed: an audit failure sends nothing; the claimed
attempt is then simply not made, and the next one comes after the backoff).
"""

import asyncio
import logging
from typing import Any

from sqlalchemy import Engine

from exchange.audit import records
from exchange.audit.events import AuditAction
from exchange.events import service
from exchange.events.settings import EventsSettings
from exchange.transport.base import Transport
from protocol.clock import utcnow

log = logging.getLogger(__name__)


async def send_copy(transport: Transport, delivery: Any, event: Any) -> None:
    """Put a delivery's stored copy on its recipient's event topic (keyed by the subject's blind index)."""
    headers = service.headers_of(delivery, event)
    await transport.publish_event(
        delivery.recipient,
        delivery.copy_jwe.encode("ascii"),
        key=event.subject_index.encode(),
        headers=headers,
    )


class Redeliverer:
    """Sends due copies again until acknowledged, at most `max_attempts` copies, then marks them overdue."""

    def __init__(
        self, *, engine: Engine, writer: Any, transport: Transport, gateway_id: str, settings: EventsSettings
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._transport = transport
        self._gateway = gateway_id
        self._settings = settings
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the periodic check."""
        self._task = asyncio.create_task(self._run(), name="shuyuan-event-redelivery")

    async def stop(self) -> None:
        """Stop the periodic check."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._settings.check_s)
            try:
                await self.run_once()
            except Exception:
                log.exception("event redelivery round failed; retried next round")

    async def run_once(self) -> int:
        """Handle every due delivery once; returns how many copies were sent again."""
        sent = 0
        for delivery, event in await asyncio.to_thread(service.due, engine=self._engine, now=utcnow()):
            overdue = delivery.attempts >= self._settings.max_attempts
            action = AuditAction.EVENT_OVERDUE if overdue else AuditAction.EVENT_REDELIVERED
            record = records.event_step(
                action,
                gateway=self._gateway,
                department=None,
                system=None,
                event_id=event.id,
                event_type=event.type,
                subject_index=event.subject_index,
                recipient=delivery.recipient,
                reason="not_acknowledged" if overdue else None,
            )
            if not overdue:
                # Claim the attempt first (a conditional update): of several gateways that saw it due,
                # only the one that claimed it records and sends it.
                claimed = await asyncio.to_thread(
                    service.reschedule, engine=self._engine, delivery=delivery, now=utcnow(),
                    backoff_s=self._settings.backoff_s,
                )  # fmt: skip
                if not claimed:
                    continue
            await self._writer.write([record])  # recorded before it happens (module doc)
            if overdue:
                await asyncio.to_thread(
                    service.move, engine=self._engine, delivery=delivery, to="overdue", now=utcnow(),
                    reason="not_acknowledged",
                )  # fmt: skip
                continue
            try:
                await send_copy(self._transport, delivery, event)
            except Exception:  # the broker is away: the next attempt comes after the backoff
                log.exception("redelivery of %s to %s failed", delivery.id, delivery.recipient)
                continue
            sent += 1
        return sent
