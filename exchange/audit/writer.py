"""Embedded audit path: the chain is written in-process, with group commit.

A query's answer is released only after the transaction holding its chained audit records has
committed (principle 6). Writing many queries' records per transaction, under one lock of the chain
head, is what lets the gateway audit every step at a thousand queries a second without a commit per
request. The Kafka path (`publisher.py`) keeps the same `write(records, alongside)` call shape.

`alongside` is what a caller needs committed in the same transaction as its records: for a query, its
idempotency record (principle 6: the answer is released only after its audit records and its
idempotency record committed together). The writer knows it only as a row of some table to insert,
the existing row winning (`IdempotentInsert`): it imports no other package's tables.
"""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exchange.audit import records as factories
from exchange.audit import store
from exchange.audit.events import AuditRecord
from exchange.audit.keys import AuditKeyPair
from exchange.audit.store import CheckpointPolicy
from protocol.errors import Unavailable
from protocol.reasons import Reason

log = logging.getLogger(__name__)
MAX_BACKLOG = 100_000


class AuditUnavailable(Unavailable):
    """The audit path did not confirm the write: fail closed, release nothing."""

    reason = Reason.AUDIT_UNAVAILABLE


@dataclass(frozen=True)
class IdempotentInsert:
    """A row to commit in the same transaction as a write's audit records; if its key exists, the
    existing row wins, except that the `complete` columns are set on an existing row where the first
    of them is still NULL (a claimed query_id being completed by its release, exchange/queries).
    """

    table: Table
    values: Mapping[str, Any]
    complete: tuple[str, ...] = ()


def with_denial(records: list[AuditRecord]) -> list[AuditRecord]:
    """A failed write's records, plus the `query.denied` record of their query if they belong to one."""
    denial = factories.audit_unavailable_denial(records)
    return records if denial is None else [*records, denial]


# What a write commits with its records: one row, or rows of several tables (an event and its
# deliveries, exchange/events), inserted in the order given.
Alongside = IdempotentInsert | Sequence[IdempotentInsert] | None


def rows_of(alongside: Alongside) -> tuple[IdempotentInsert, ...]:
    """The rows to commit with a write, as a tuple."""
    if alongside is None:
        return ()
    return (alongside,) if isinstance(alongside, IdempotentInsert) else tuple(alongside)


@dataclass(frozen=True)
class AuditHealth:
    """What readiness (`/readyz`) reports of an audit path: usable or not, and why."""

    ok: bool
    detail: str
    backlog: int = 0


@dataclass
class _Pending:
    records: list[AuditRecord]
    alongside: tuple[IdempotentInsert, ...]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AuditWriter:
    """Queues records and appends them to the chain in batches from one writer task."""

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
        self._backlog: list[AuditRecord] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="shuyuan-audit-writer")

    async def stop(self) -> None:
        """Write what is queued (and sign a final checkpoint), then stop."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def write(self, records: Sequence[AuditRecord], alongside: Alongside = None) -> None:
        """Return once the records (and `alongside`) are committed; raise AuditUnavailable if not."""
        batch = list(records)
        if batch and self._key is None:
            raise AuditUnavailable("this writer stores idempotency records only")
        if self._closed or self._task is None or self._task.done():
            self._remember_failure(batch)
            raise AuditUnavailable("the audit writer is not running")
        pending = _Pending(batch, rows_of(alongside))
        self._queue.append(pending)
        self._wakeup.set()
        await pending.done

    def health(self) -> AuditHealth:
        """Ready while the writer task runs and no failed write waits for its retry."""
        if self._closed or self._task is None or self._task.done():
            return AuditHealth(False, "the audit writer is not running", len(self._backlog))
        if self._backlog:
            return AuditHealth(False, "audit records of failed writes wait for the store", len(self._backlog))
        return AuditHealth(True, "chained in-process")

    def checkpoint_now(self) -> None:
        """Sign a checkpoint over every record written so far (blocking; from any thread)."""
        if self._key is None:
            raise AuditUnavailable("this writer holds no audit key")
        with self._engine.begin() as conn:
            store.maybe_checkpoint(conn, key=self._key, policy=self._policy, force=True)

    def _remember_failure(self, records: list[AuditRecord]) -> None:
        if len(self._backlog) < MAX_BACKLOG:
            self._backlog += with_denial(records)
        else:
            log.error("audit backlog full: %d records of a failed write are lost", len(records))

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
                        self._remember_failure(p.records)
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
            if batch and rows + len(p.records) > self._max_batch:
                return batch, self._queue[i:]
            batch.append(p)
            rows += len(p.records)
        return batch, []

    def _commit(self, batch: list[_Pending], force_checkpoint: bool = False) -> None:
        backlog, self._backlog = self._backlog, []
        records = backlog + [r for p in batch for r in p.records]
        alongside: dict[tuple[Table, tuple[str, ...]], list[Mapping[str, Any]]] = {}
        for p in batch:
            for row in p.alongside:
                key = (row.table, row.complete)
                alongside.setdefault(key, []).append(row.values)
        try:
            with self._engine.begin() as conn:
                if self._key is not None:
                    store.append(conn, records, key=self._key, policy=self._policy)
                    if force_checkpoint:
                        store.maybe_checkpoint(conn, key=self._key, policy=self._policy, force=True)
                for (table, complete), rows in alongside.items():  # one executemany per table
                    conn.execute(first_wins(conn, table, complete), rows)
        except Exception:
            self._backlog = backlog + self._backlog  # the batch's own records are re-added by the caller
            raise


def first_wins(conn: Connection, table: Table, complete: tuple[str, ...] = ()) -> Insert:
    """An insert that keeps an existing row with the same key, or completes it (`complete` columns
    set from the new values where the first of them is still NULL)."""
    dialect = conn.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        return insert(table)
    stmt = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    if not complete:
        return stmt.on_conflict_do_nothing()
    keys = [c.name for c in table.primary_key.columns]
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={name: stmt.excluded[name] for name in complete},
        where=table.c[complete[0]].is_(None),
    )
