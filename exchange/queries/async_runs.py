"""Asynchronous queries: accepted with 202, run in the background through QueryService.run, the
encrypted result stored until its consumer fetches it once, or until it expires (docs/api.md).

There is no second release path: the background run is QueryService.run itself (same decisions,
audit and per-element encryption to the consumer); this module only holds its output, sealed at rest,
and releases it to the consumer department's own systems.
"""

import asyncio
import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlmodel import Session, col

from exchange.audit import records
from exchange.audit.events import AuditAction, AuditRecord
from exchange.audit.publisher import AuditPublisher
from exchange.audit.writer import AuditWriter
from exchange.crypto import PlatformKeys
from exchange.periodic import PeriodicTask
from exchange.queries.async_models import AsyncPending, AsyncResult, location_of
from exchange.queries.callbacks import CallbackSender
from exchange.queries.models import QueryIn, QueryOut
from exchange.queries.service import QueryService, request_digest
from protocol.clock import as_utc, utcnow
from protocol.errors import Conflict, Gone, InvalidRequest, NotFound, ShuyuanError
from protocol.identifiers import InvalidSubjectId, normalise_subject_id
from protocol.reasons import Reason
from registry.systems.models import ClientSystem

log = logging.getLogger(__name__)


def _seal_context(consumer: str, query_id: str) -> bytes:
    return f"async_result:{consumer}:{query_id}".encode()


class AsyncQueries:
    """The async queries of one gateway process: start, background run, fetch once, expire."""

    def __init__(
        self,
        *,
        engine: Engine,
        service: QueryService,
        writer: AuditWriter | AuditPublisher,
        keys: PlatformKeys,
        callbacks: CallbackSender,
        gateway_id: str,
        result_ttl_s: float,
        run_max_s: float = 25 * 3600,
        sweep_s: float = 60.0,
    ) -> None:
        self._engine = engine
        self._service = service
        self._writer = writer
        self._keys = keys
        self._callbacks = callbacks
        self._gateway_id = gateway_id
        self._ttl = timedelta(seconds=result_ttl_s)
        self._run_max = timedelta(seconds=run_max_s)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper = PeriodicTask("shuyuan-async-sweep", sweep_s, self.sweep)

    async def start_sweeping(self) -> None:
        """Start the periodic sweep (expired results, lost runs) of the gateway's lifespan."""
        await self._sweeper.start()

    async def start(self, *, consumer: str, system: str | None, query: QueryIn) -> None:
        """Check the callback URL, store the pending row, audit the deferral and run in the background."""
        try:
            subject_id = normalise_subject_id(query.subject.type, query.subject.id)
        except InvalidSubjectId as exc:
            raise InvalidRequest(exc.detail, reason=Reason.INVALID_SUBJECT_ID) from exc
        row = AsyncResult(
            consumer=consumer,
            query_id=query.query_id,
            system=system,
            subject_index=self._keys.blind_index(query.subject.type, subject_id),
            service_item=query.purpose.service_item,
            case_no=query.purpose.case_no,
            on_behalf_of=query.on_behalf_of,
            expires_at=utcnow() + self._ttl,
            request_digest=request_digest(consumer, query, subject_id),
        )
        row.callback_url = await self._callback_url(row, query)
        accepted = await asyncio.to_thread(self._insert, row)
        if accepted is not None:
            if accepted != row.request_digest:  # as the idempotency record refuses it for sync queries
                raise Conflict(f"query_id {query.query_id!r} was already used for a different query")
            # The same consumer's same query is already accepted: the same 202 again, nothing run twice.
            return
        await self._writer.write([self._record(row, AuditAction.QUERY_DEFERRED, elements=query.elements)])
        task = asyncio.create_task(self._run(row, consumer=consumer, system=system, query=query))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _callback_url(self, row: AsyncResult, query: QueryIn) -> str | None:
        """The registered URL the query asks to be called back at; refused (and audited) if none is."""
        if query.callback_url is None and not query.callback:
            return None
        registered = await asyncio.to_thread(self._registered_urls, row.system)
        if query.callback_url is not None and query.callback_url in registered:
            return query.callback_url
        if query.callback_url is None and len(registered) == 1:
            return registered[0]
        # The registration is the SSRF defence: a URL from the body alone is never called.
        await self._writer.write(
            [
                self._record(
                    row,
                    AuditAction.QUERY_REFUSED,
                    elements=query.elements,
                    decision="deny",
                    reason=Reason.CALLBACK_NOT_REGISTERED.value,
                )
            ]
        )
        raise InvalidRequest(  # audited just above: not again (auth/denials.py)
            "the callback URL is not registered for the calling system"
            if query.callback_url is not None
            else "`callback: true` needs exactly one registered callback URL",
            reason=Reason.CALLBACK_NOT_REGISTERED,
            audited=True,
        )

    async def _run(self, row: AsyncResult, *, consumer: str, system: str | None, query: QueryIn) -> None:
        reason: str | None = None
        sealed: bytes | None = None
        try:
            out = await self._service.run(consumer=consumer, query=query, system=system, slow_sources=True)
            sealed = self._keys.seal(
                out.model_dump_json().encode(), context=_seal_context(consumer, row.query_id)
            )
        except ShuyuanError as exc:  # refused or not released: the poll says why, as the sync route would
            reason = exc.reason.value
        except Exception:
            log.exception("async query %s failed", row.query_id)
            reason = Reason.SOURCE_UNAVAILABLE.value
        await asyncio.to_thread(self._finish, consumer, row.query_id, sealed, reason)
        if row.callback_url is not None:
            await self._callbacks.deliver(row, self._record)

    async def fetch(self, *, consumer: str, system: str | None, query_id: str) -> QueryOut | AsyncPending:
        """The result for its consumer, released once; NotFound for anyone else, Gone once used or expired."""
        row = await asyncio.to_thread(self._find, consumer, query_id)
        if row is None:
            # Another department's query id looks exactly like one that never existed.
            raise NotFound(f"no async query {query_id[:64]!r} of this department")
        if row.status == "expired" or as_utc(row.expires_at) <= utcnow():
            await asyncio.to_thread(self._expire, consumer, query_id)
            await self._refuse(row, system, Reason.RESULT_EXPIRED)
            raise Gone("the result expired and was deleted", reason=Reason.RESULT_EXPIRED, audited=True)
        if row.status == "pending":
            return AsyncPending(query_id=query_id, status="pending")
        if row.status == "fetched" or not await asyncio.to_thread(self._mark_fetched, consumer, query_id):
            await self._refuse(row, system, Reason.RESULT_FETCHED)
            raise Gone("the result was already fetched", reason=Reason.RESULT_FETCHED, audited=True)
        if row.result_sealed is None:
            await self._writer.write([self._record(row, AuditAction.QUERY_RESULT_FETCHED, system=system)])
            return AsyncPending(query_id=query_id, status="failed", reason=row.reason)
        body = self._keys.unseal(row.result_sealed, context=_seal_context(consumer, query_id))
        digest = hashlib.sha256(body).hexdigest()
        await self._writer.write(
            [self._record(row, AuditAction.QUERY_RESULT_FETCHED, system=system, response_digest=digest)]
        )
        return QueryOut.model_validate_json(body)

    async def _refuse(self, row: AsyncResult, system: str | None, reason: Reason) -> None:
        await self._writer.write(
            [
                self._record(
                    row, AuditAction.QUERY_REFUSED, system=system, decision="deny", reason=reason.value
                )
            ]
        )

    async def sweep(self, now: datetime | None = None) -> tuple[int, int]:
        """Expire results past their lifetime, and fail runs a stopped gateway left pending.

        An expired result's ciphertext is dropped at once; its row stays one more lifetime so that a
        late poll still gets `410 result_expired`, then it is deleted. A run still pending after
        `run_max_s` (longer than any source's deadline) was lost with its gateway: its poll says
        `failed` with `query_interrupted`. Returns (expired, interrupted).
        """
        now = now or utcnow()
        return await asyncio.to_thread(self._sweep, now)

    async def stop(self) -> None:
        """Cancel the background runs (a stopped gateway leaves them pending; the claim says so)."""
        await self._sweeper.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait for every background run and callback of now (tests, orderly shutdown)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _record(self, row: AsyncResult, action: AuditAction, **fields: Any) -> AuditRecord:
        fields.setdefault("system", row.system)
        fields.setdefault("elements", [])
        return records.query_step(
            action,
            gateway=self._gateway_id,
            department=row.consumer,
            user=row.on_behalf_of,
            subject_index=row.subject_index,
            service_item=row.service_item,
            case_no=row.case_no,
            request_id=row.query_id,
            **fields,
        )

    def location(self, query_id: str) -> str:
        """Where the async query is polled."""
        return location_of(query_id)

    # --- the async_result table ------------------------------------------------------------------

    def _registered_urls(self, system: str | None) -> list[str]:
        if system is None:
            return []
        stmt = select(col(ClientSystem.callback_urls)).where(col(ClientSystem.client_id) == system)
        with self._engine.connect() as conn:
            urls = conn.execute(stmt).scalar()
        return str(urls or "").split()

    def _insert(self, row: AsyncResult) -> str | None:
        """Store the pending row: None, or the digest of the request already accepted with its id."""
        with self._engine.begin() as conn:
            found = conn.execute(
                select(col(AsyncResult.request_digest)).where(
                    col(AsyncResult.consumer) == row.consumer, col(AsyncResult.query_id) == row.query_id
                )
            ).first()
            if found is not None:
                return str(found[0] or row.request_digest)  # a row from before digests: as the same
            table = AsyncResult.__table__  # type: ignore[attr-defined]
            conn.execute(table.insert(), [row.model_dump()])
            return None

    def _finish(self, consumer: str, query_id: str, sealed: bytes | None, reason: str | None) -> None:
        stmt = (
            update(AsyncResult)
            .where(col(AsyncResult.consumer) == consumer, col(AsyncResult.query_id) == query_id)
            .values(
                status="ready" if sealed is not None else "failed",
                result_sealed=sealed,
                reason=reason,
                ready_at=utcnow(),
            )
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def _find(self, consumer: str, query_id: str) -> AsyncResult | None:
        with Session(self._engine) as session:
            return session.get(AsyncResult, (consumer, query_id))

    def _mark_fetched(self, consumer: str, query_id: str) -> bool:
        """Released once: only the one request that moves it from ready/failed to fetched gets it."""
        stmt = (
            update(AsyncResult)
            .where(
                col(AsyncResult.consumer) == consumer,
                col(AsyncResult.query_id) == query_id,
                col(AsyncResult.status).in_(("ready", "failed")),
            )
            .values(status="fetched", result_sealed=None, fetched_at=utcnow())
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def _expire(self, consumer: str, query_id: str) -> None:
        stmt = (
            update(AsyncResult)
            .where(col(AsyncResult.consumer) == consumer, col(AsyncResult.query_id) == query_id)
            .values(status="expired", result_sealed=None)
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def _sweep(self, now: datetime) -> tuple[int, int]:
        with self._engine.begin() as conn:
            expired = conn.execute(
                update(AsyncResult)
                .where(col(AsyncResult.expires_at) <= now, col(AsyncResult.status) != "expired")
                .values(status="expired", result_sealed=None)
            ).rowcount
            conn.execute(delete(AsyncResult).where(col(AsyncResult.expires_at) <= now - self._ttl))
            interrupted = conn.execute(
                update(AsyncResult)
                .where(
                    col(AsyncResult.status) == "pending", col(AsyncResult.created_at) <= now - self._run_max
                )
                .values(status="failed", reason=Reason.QUERY_INTERRUPTED.value, ready_at=now)
            ).rowcount
        return int(expired or 0), int(interrupted or 0)
