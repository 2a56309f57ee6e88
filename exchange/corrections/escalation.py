"""The periodic deadline check: an open correction past its take-up or close deadline is escalated.

Escalated means `escalated_at` is set and a `correction.escalated` record names it for the stewards
(it shows in `GET /v1/corrections?overdue=true`). Every gateway runs the check; a conditional update
lets only one of them mark a correction, and the record is written first (fail closed: never marked
without its record). Two gateways racing on the same correction may both record it: the chain then
says it twice, which is harmless, while a mark without a record would not be.
"""

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from exchange.audit import records
from exchange.audit.events import AuditAction
from exchange.corrections import service
from protocol.clock import utcnow

log = logging.getLogger(__name__)


class Escalator:
    """Runs the deadline check every `check_s` seconds in the gateway's lifespan."""

    def __init__(self, *, engine: Engine, writer: Any, gateway_id: str, check_s: float) -> None:
        self._engine = engine
        self._writer = writer
        self._gateway_id = gateway_id
        self._check_s = check_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the periodic check."""
        self._task = asyncio.create_task(self._run(), name="shuyuan-corrections-escalation")

    async def stop(self) -> None:
        """Stop the periodic check."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._check_s)
            try:
                await self.escalate_now()
            except Exception:
                log.exception("escalating overdue corrections failed; retrying next period")

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
