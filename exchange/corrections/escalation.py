"""The periodic deadline check: an open correction past its take-up or close deadline is escalated.

Escalated means `escalated_at` is set and a `correction.escalated` record names it for the stewards
(it shows in `GET /v1/corrections?overdue=true`). Every gateway runs the check; a conditional update
lets only one of them mark a correction, and the record is written first (fail closed: never marked
without its record). Two gateways racing on the same correction may both record it: the chain then
says it twice, which is harmless, while a mark without a record would not be.
"""

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from exchange.audit import records
from exchange.audit.events import AuditAction
from exchange.corrections import service
from exchange.periodic import PeriodicTask
from protocol.clock import utcnow


class Escalator:
    """Runs the deadline check every `check_s` seconds in the gateway's lifespan."""

    def __init__(self, *, engine: Engine, writer: Any, gateway_id: str, check_s: float) -> None:
        self._engine = engine
        self._writer = writer
        self._gateway_id = gateway_id
        self._periodic = PeriodicTask("shuyuan-corrections-escalation", check_s, self.escalate_now)

    async def start(self) -> None:
        """Start the periodic check."""
        await self._periodic.start()

    async def stop(self) -> None:
        """Stop the periodic check."""
        await self._periodic.stop()

    async def escalate_now(self, now: datetime | None = None) -> int:
        """Escalate every open correction past a deadline; returns how many this call marked."""
        now = now or utcnow()
        due = await asyncio.to_thread(service.due_for_escalation, engine=self._engine, now=now)
        marked = 0
        for row in due:
            record = records.correction_step(
                AuditAction.CORRECTION_ESCALATED,
                gateway=self._gateway_id,
                department=None,  # the gateway's own deadline check, not a department
                system=None,
                correction_id=row.id,
                element=row.element,
                subject_index=row.subject_index,
                source=row.source,
            )
            await self._writer.write([record])  # AuditUnavailable: not marked, tried again next period
            if await asyncio.to_thread(service.mark_escalated, engine=self._engine, row=row, now=now):
                marked += 1
        return marked
