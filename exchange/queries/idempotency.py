"""A query_id's record: claimed before anything runs, completed by its release, replayed, purged.

`query_id` is the consumer's idempotency key. The record is inserted (claimed, no answer yet) before
any source is asked, so one query_id runs and is released once; the release fills in the sealed
answer (exchange/queries/models.py `idempotency_record`); a repeat gets that answer replayed, or
`409 query_in_progress` while there is none. Records expire after SHUYUAN_QUERY_RECORD_TTL_S.
"""

import asyncio
import hashlib
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlmodel import col

from exchange.audit.writer import first_wins
from exchange.crypto import PlatformKeys
from exchange.queries.models import QueryOut, QueryRecord
from protocol.clock import as_utc, utcnow
from protocol.errors import Conflict
from protocol.reasons import Reason

DEFAULT_RECORD_TTL_S = 24 * 3600


def seal_context(consumer: str, query_id: str) -> bytes:
    """What a stored answer is sealed to: it opens for this consumer's query_id only."""
    return f"query_record:{consumer}:{query_id}".encode()


class QueryRecords:
    """The query_record table of one gateway."""

    def __init__(
        self, engine: Engine, keys: PlatformKeys, *, record_ttl_s: float = DEFAULT_RECORD_TTL_S
    ) -> None:
        self._engine = engine
        self._keys = keys
        self._record_ttl = timedelta(seconds=record_ttl_s)
        # Expired records are purged at most this often (and one at a time when met on a replay).
        self._purge_every_s = min(max(record_ttl_s / 24, 60.0), 3600.0)
        self._last_purge = float("-inf")

    async def maybe_purge(self) -> None:
        """Purge the expired records if the last purge is long enough ago."""
        if time.monotonic() - self._last_purge >= self._purge_every_s:
            self._last_purge = time.monotonic()
            await self.purge_expired()

    async def purge_expired(self) -> int:
        """Delete the idempotency records older than the TTL; returns how many were deleted."""
        return await asyncio.to_thread(self._delete_records_before, utcnow() - self._record_ttl)

    def _delete_records_before(
        self, cutoff: datetime, *, consumer: str | None = None, query_id: str = ""
    ) -> int:
        stmt = delete(QueryRecord).where(col(QueryRecord.created_at) < cutoff)
        if consumer is not None:
            stmt = stmt.where(col(QueryRecord.consumer) == consumer, col(QueryRecord.query_id) == query_id)
        with self._engine.begin() as conn:
            return int(conn.execute(stmt).rowcount or 0)

    async def claim(self, consumer: str, query_id: str, digest: str) -> tuple[QueryOut, str] | None:
        """Claim the query_id for this request (None), or return its stored answer to replay."""
        for _ in range(3):
            if await asyncio.to_thread(self._insert_claim, consumer, query_id, digest):
                return None
            row = await asyncio.to_thread(self._find_record, consumer, query_id)
            if row is None:
                continue  # purged between the two statements: claim again
            cutoff = utcnow() - self._record_ttl
            if as_utc(row.created_at) < cutoff:
                # Expired: never replayed. The record is purged and the query answered afresh, decided
                # and audited as a new one (docs/security.md).
                await asyncio.to_thread(
                    self._delete_records_before, cutoff, consumer=consumer, query_id=query_id
                )
                continue
            if row.request_digest != digest:
                raise Conflict(f"query_id {query_id!r} was already used for a different query")
            if row.response_sealed is None:
                raise Conflict(
                    f"query_id {query_id!r} is being answered, or its attempt was cut off; retry it after "
                    "the source deadline, and send a new query_id if this persists",
                    reason=Reason.QUERY_IN_PROGRESS,
                )
            body = self._keys.unseal(row.response_sealed, context=seal_context(consumer, query_id))
            return QueryOut.model_validate_json(body), hashlib.sha256(body).hexdigest()
        raise Conflict(f"query_id {query_id!r} could not be claimed", reason=Reason.QUERY_IN_PROGRESS)

    def _insert_claim(self, consumer: str, query_id: str, digest: str) -> bool:
        values = {
            "consumer": consumer,
            "query_id": query_id,
            "request_digest": digest,
            "created_at": utcnow(),
        }
        with self._engine.begin() as conn:
            table = QueryRecord.__table__  # type: ignore[attr-defined]
            # RETURNING, not rowcount: a driver may report -1 for an insert that skipped a conflict.
            claimed = conn.execute(first_wins(conn, table).returning(table.c.query_id), values)
            return claimed.first() is not None

    async def unclaim(self, consumer: str, query_id: str) -> None:
        """Free a claimed query_id whose answer was never released (nothing was asked, or it failed)."""
        await asyncio.to_thread(self._unclaim, consumer, query_id)

    def _unclaim(self, consumer: str, query_id: str) -> None:
        stmt = delete(QueryRecord).where(
            col(QueryRecord.consumer) == consumer,
            col(QueryRecord.query_id) == query_id,
            col(QueryRecord.response_sealed).is_(None),
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def _find_record(self, consumer: str, query_id: str) -> Any:
        with self._engine.connect() as conn:
            stmt = select(
                col(QueryRecord.request_digest), col(QueryRecord.response_sealed), col(QueryRecord.created_at)
            ).where(col(QueryRecord.consumer) == consumer, col(QueryRecord.query_id) == query_id)
            return conn.execute(stmt).first()
