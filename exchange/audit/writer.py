"""Group commit of audit rows and idempotency records: one transaction for many queries.

A query's answer is released only after the transaction holding its audit rows has committed
(principle 6). Writing many queries' rows per transaction is what lets the gateway audit every step
at a thousand queries a second without a commit per request.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exchange.audit.models import AuditEntry
from exchange.queries.models import QueryRecord
from protocol.errors import Unavailable
from protocol.reasons import Reason

log = logging.getLogger(__name__)


class AuditUnavailable(Unavailable):
    """The audit store did not confirm the write: fail closed, release nothing."""

    reason = Reason.AUDIT_UNAVAILABLE


@dataclass
class _Pending:
    audit_rows: list[dict[str, Any]]
    query_row: dict[str, Any] | None
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AuditWriter:
    """Queues rows and commits them in batches from one writer task."""

    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        dialect = engine.dialect.name
        self._upsert = {"postgresql": pg_insert, "sqlite": sqlite_insert}.get(dialect)

    async def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="shuyuan-audit-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def write(self, audit_rows: list[dict[str, Any]], query_row: dict[str, Any] | None = None) -> None:
        """Return once the rows are committed; raise AuditUnavailable if they could not be."""
        if self._closed or self._task is None or self._task.done():
            raise AuditUnavailable("the audit writer is not running")
        pending = _Pending(audit_rows, query_row)
        self._queue.append(pending)
        self._wakeup.set()
        await pending.done

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._take()
                try:
                    await asyncio.to_thread(self._commit, batch)
                except Exception:
                    log.exception("audit batch of %d queries failed", len(batch))
                    for p in batch:
                        if not p.done.done():
                            p.done.set_exception(
                                AuditUnavailable("the audit store did not confirm the write")
                            )
                else:
                    for p in batch:
                        if not p.done.done():
                            p.done.set_result(None)
            if self._closed:
                return

    def _take(self) -> tuple[list[_Pending], list[_Pending]]:
        batch: list[_Pending] = []
        rows = 0
        for i, p in enumerate(self._queue):
            if batch and rows + len(p.audit_rows) > self._max_batch:
                return batch, self._queue[i:]
            batch.append(p)
            rows += len(p.audit_rows)
        return batch, []

    def _commit(self, batch: list[_Pending]) -> None:
        audit_rows = [row for p in batch for row in p.audit_rows]
        query_rows = [p.query_row for p in batch if p.query_row is not None]
        with self._engine.begin() as conn:
            if audit_rows:
                conn.execute(insert(AuditEntry), audit_rows)
            if query_rows:
                if self._upsert is None:
                    conn.execute(insert(QueryRecord), query_rows)
                else:
                    # Two concurrent requests with one query_id: the first record wins, both are audited.
                    conn.execute(self._upsert(QueryRecord).on_conflict_do_nothing(), query_rows)
