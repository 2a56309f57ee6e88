"""Embedded audit path: the chain is written in-process, with group commit.

A query's answer is released only after the transaction holding its chained audit records has
committed (principle 6). Writing many queries' records per transaction, under one lock of the chain
head, is what lets the gateway audit every step at a thousand queries a second without a commit per
request. The Kafka path (`publisher.py`) keeps the same `write(rows, query_row)` call shape.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exchange.audit import store
from exchange.audit.keys import AuditKeyPair
from exchange.audit.store import CheckpointPolicy
from exchange.queries.models import QueryRecord
from protocol.clock import utcnow
from protocol.errors import Unavailable
from protocol.reasons import Reason

log = logging.getLogger(__name__)
MAX_BACKLOG = 100_000


class AuditUnavailable(Unavailable):
    """The audit path did not confirm the write: fail closed, release nothing."""

    reason = Reason.AUDIT_UNAVAILABLE


def denial_bodies(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `query.denied` record of a query whose audit write failed (recorded once the path is back)."""
    queries = [b for b in bodies if b.get("request_id")]
    if not queries:
        return []  # e.g. a refused request's own record: it is retried as it is, there is no answer to deny
    first = queries[0]
    elements = sorted({e for b in bodies for e in b["elements"]})
    denial = store.body_from_row({}, time=utcnow())
    keep = ("gateway", "actor_department", "actor_system", "actor_user", "subject_index", "service_item")
    denial |= {k: first[k] for k in (*keep, "case_no", "request_id")}
    denial |= {"action": "query.denied", "elements": elements, "decision": "deny"}
    denial["reason"] = Reason.AUDIT_UNAVAILABLE.value
    return [denial]


@dataclass
class _Pending:
    bodies: list[dict[str, Any]]
    query_row: dict[str, Any] | None
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AuditWriter:
    """Queues rows and appends them to the chain in batches from one writer task."""

    def __init__(
        self,
        engine: Engine,
        *,
        key: AuditKeyPair | None,
        policy: CheckpointPolicy | None = None,
        max_batch: int = 500,
    ) -> None:
        self._engine = engine
        self._key = key
        self._policy = policy or CheckpointPolicy()
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        # Records of queries whose write failed (and their denials): retried, never dropped silently.
        self._backlog: list[dict[str, Any]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        dialect = engine.dialect.name
        self._upsert = {"postgresql": pg_insert, "sqlite": sqlite_insert}.get(dialect)

    async def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="shuyuan-audit-writer")

    async def stop(self) -> None:
        """Write what is queued (and sign a final checkpoint), then stop."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def write(self, audit_rows: list[dict[str, Any]], query_row: dict[str, Any] | None = None) -> None:
        """Return once the rows are chained and committed; raise AuditUnavailable if they could not be."""
        if audit_rows and self._key is None:
            raise AuditUnavailable("this writer stores query records only")
        now = utcnow()
        bodies = [store.body_from_row(r, time=now) for r in audit_rows]
        if self._closed or self._task is None or self._task.done():
            self._remember_failure(bodies)
            raise AuditUnavailable("the audit writer is not running")
        pending = _Pending(bodies, query_row)
        self._queue.append(pending)
        self._wakeup.set()
        await pending.done

    def checkpoint_now(self) -> None:
        """Sign a checkpoint over every record written so far (blocking; from any thread)."""
        if self._key is None:
            raise AuditUnavailable("this writer holds no audit key")
        with self._engine.begin() as conn:
            store.maybe_checkpoint(conn, key=self._key, policy=self._policy, force=True)

    def _remember_failure(self, bodies: list[dict[str, Any]]) -> None:
        if len(self._backlog) < MAX_BACKLOG:
            self._backlog += bodies + denial_bodies(bodies)
        else:
            log.error("audit backlog full: %d records of a failed write are lost", len(bodies))

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._policy.interval_s)
            except TimeoutError:
                await self._tick()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._take()
                try:
                    await asyncio.to_thread(self._commit, batch)
                except Exception:
                    log.exception("audit batch of %d queries failed", len(batch))
                    for p in batch:
                        self._remember_failure(p.bodies)
                        if not p.done.done():
                            p.done.set_exception(
                                AuditUnavailable("the audit store did not confirm the write")
                            )
                else:
                    for p in batch:
                        if not p.done.done():
                            p.done.set_result(None)
            if self._closed:
                await self._tick(force=True)
                return

    async def _tick(self, *, force: bool = False) -> None:
        """Retry the backlog and sign a time-based checkpoint; failures wait for the next tick."""
        if self._key is None:
            return
        try:
            await asyncio.to_thread(self._commit, [], force)
        except Exception:
            log.exception("audit checkpoint or backlog retry failed")

    def _take(self) -> tuple[list[_Pending], list[_Pending]]:
        batch: list[_Pending] = []
        rows = 0
        for i, p in enumerate(self._queue):
            if batch and rows + len(p.bodies) > self._max_batch:
                return batch, self._queue[i:]
            batch.append(p)
            rows += len(p.bodies)
        return batch, []

    def _commit(self, batch: list[_Pending], force_checkpoint: bool = False) -> None:
        backlog, self._backlog = self._backlog, []
        bodies = backlog + [b for p in batch for b in p.bodies]
        query_rows = [p.query_row for p in batch if p.query_row is not None]
        try:
            with self._engine.begin() as conn:
                if self._key is not None:
                    store.append(conn, bodies, key=self._key, policy=self._policy)
                    if force_checkpoint:
                        store.maybe_checkpoint(conn, key=self._key, policy=self._policy, force=True)
                if query_rows:
                    if self._upsert is None:
                        conn.execute(insert(QueryRecord), query_rows)
                    else:
                        # Two concurrent requests with one query_id: the first record wins, both audited.
                        conn.execute(self._upsert(QueryRecord).on_conflict_do_nothing(), query_rows)
        except Exception:
            self._backlog = backlog + self._backlog  # the batch's own records are re-added by the caller
            raise
