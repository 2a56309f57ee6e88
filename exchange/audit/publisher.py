"""Kafka audit path: publish a query's audit events to `<ns>.audit` (acks=all) and release the
answer only after the broker acknowledged every one of them (principle 6).

The events (`AuditEvent`, the record itself) are chained later by the sealer (`sealer.py`). What the
caller needs committed alongside (a query's idempotency record) still goes to the gateway database,
through a group-commit writer that holds no audit records, once every event was acknowledged.

Fail closed means fail fast (docs/reliability.md): a write waits at most `delivery_timeout_s` for the
broker, and once one write has failed every later one is refused at once with `audit_unavailable`
until the retry task has delivered the backlog again, so a stalled broker costs each query
milliseconds, not the length of the stall.
"""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaProducer

from exchange.audit.events import AuditEvent, AuditRecord
from exchange.audit.writer import (
    MAX_BACKLOG,
    Alongside,
    AuditHealth,
    AuditUnavailable,
    AuditWriter,
    rows_of,
    with_denial,
)
from kafkaio.admin import ensure_topics

log = logging.getLogger(__name__)
# Held-back events published per delivery of the retry task (each within the delivery timeout).
BACKLOG_CHUNK = 2000


class AuditPublisher:
    """Same call shape as AuditWriter: `await write(records, alongside)`."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        records: AuditWriter,
        *,
        topic: str,
        partitions: int = 1,
        gateway_id: str,
        delivery_timeout_s: float = 4.0,
        retry_interval_s: float = 1.0,
        topic_configs: Mapping[str, str] | None = None,
    ) -> None:
        self._config = dict(client_config)
        self._records = records
        self._topic = topic
        self._partitions = partitions
        # Keyed by gateway: one instance's events stay in order on one partition.
        self._key = gateway_id.encode()
        self._timeout_s = delivery_timeout_s
        self._timeout_ms = int(delivery_timeout_s * 1000)
        self._retry_s = retry_interval_s
        self._topic_configs = dict(topic_configs or {})
        self._producer: KafkaProducer | None = None
        self._backlog: list[AuditEvent] = []
        self._retry_task: asyncio.Task[None] | None = None
        # After a failed delivery the producer is replaced: a fresh one has fresh metadata and a fresh
        # idempotence state, which a deleted and re-created topic (or a broker failover) needs.
        self._stale = False
        # False from the first failed delivery until the retry task delivered the backlog again: in
        # between, writes are refused at once instead of each waiting out the delivery timeout.
        self._healthy = False
        self._failure = "the audit producer is not connected yet"

    async def start(self) -> None:
        """Start the record writer; connect the producer (a broker that is down is not fatal here)."""
        await self._records.start()
        try:
            await asyncio.to_thread(self._connect)
            self._healthy = True
        except Exception:
            # Fail closed per query instead of refusing to start: every query is denied and
            # recorded once the broker is back (the retry task keeps trying).
            log.exception("audit topic not reachable at start; queries are denied until it is")
        self._retry_task = asyncio.create_task(self._retry_loop(), name="shuyuan-audit-retry")

    def _connect(self) -> None:
        # Bounded like a delivery: an unreachable broker must not hold a thread (and shutdown) for long.
        bounded = {"bootstrap_timeout_ms": self._timeout_ms, "request_timeout_ms": self._timeout_ms}
        ensure_topics(
            self._config | bounded,
            {self._topic: self._partitions},
            configs={self._topic: self._topic_configs} if self._topic_configs else None,
        )
        # request_timeout < delivery_timeout: the producer must be allowed one try within the deadline.
        self._producer = KafkaProducer(
            **self._config,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            delivery_timeout_ms=self._timeout_ms,
            request_timeout_ms=max(1000, self._timeout_ms // 2),
            max_block_ms=self._timeout_ms,
            bootstrap_timeout_ms=self._timeout_ms,
            allow_auto_create_topics=False,
        )

    def _reconnect(self) -> None:
        old, self._producer = self._producer, None
        if old is not None:
            try:
                old.close(0)
            except Exception:
                log.warning("closing the stale audit producer failed", exc_info=True)
        self._connect()
        self._stale = False

    async def stop(self) -> None:
        """Flush, stop retrying, close the producer and the record writer."""
        if self._retry_task is not None:
            self._retry_task.cancel()
        if self._producer is not None:
            try:
                await asyncio.to_thread(self._producer.close, 5)
            except Exception:
                # Events still unacknowledged at shutdown belong to queries that were denied anyway.
                log.exception("audit producer did not flush on close")
        if self._backlog:
            log.error("%d audit events of denied queries were never acknowledged", len(self._backlog))
        await self._records.stop()

    async def write(self, records: Sequence[AuditRecord], alongside: Alongside = None) -> None:
        """Return once the broker acknowledged every event (and `alongside` is committed)."""
        events = list(records)
        if not self._healthy and events:
            # Fail fast: the audit path is known to be down; the retry task finds out when it is back.
            self._remember(with_denial(events))
            raise AuditUnavailable(f"the audit path is down: {self._failure}")
        try:
            await asyncio.wait_for(self._publish(events), timeout=self._timeout_s)
        except Exception as exc:
            self._stale = True
            self._healthy = False
            self._failure = (
                f"audit event not acknowledged within {self._timeout_s:g} s ({type(exc).__name__})"
            )
            log.error("audit path down: %s; queries are refused until it is back", self._failure)
            self._remember(with_denial(events))
            raise AuditUnavailable(self._failure) from exc
        if rows_of(alongside):
            # Only after the audit events are durable: a stored answer could otherwise be replayed
            # for a query whose audit never made it (nothing half-written, as in the embedded path).
            # A database failure here says nothing about the broker: the events are delivered, and
            # only the denial of this query is added (the record writer raises AuditUnavailable).
            try:
                await self._records.write([], alongside)
            except AuditUnavailable:
                self._remember(with_denial(events)[len(events) :])
                raise

    def _back(self) -> None:
        """A delivery (or a reconnect) succeeded: queries are taken again."""
        if not self._healthy:
            log.warning("audit path back: queries are answered again")
        self._healthy = True

    def health(self) -> AuditHealth:
        """Ready while deliveries succeed; not ready from a failed one until the backlog is delivered."""
        if not self._healthy:
            return AuditHealth(False, self._failure, len(self._backlog))
        return AuditHealth(True, f"published to {self._topic}", len(self._backlog))

    def _remember(self, events: list[AuditEvent]) -> None:
        if len(self._backlog) < MAX_BACKLOG:
            self._backlog += events
        else:
            log.error("audit backlog full: %d events of a denied query are lost", len(events))

    async def _publish(self, events: list[AuditEvent]) -> None:
        if not events:
            return
        if self._producer is None:
            raise AuditUnavailable("the audit producer is not connected")
        loop = asyncio.get_running_loop()
        values = [e.model_dump_json().encode() for e in events]
        # send() may block on metadata when the broker is away: never on the event loop.
        sent = await asyncio.to_thread(
            lambda: [self._producer.send(self._topic, value=v, key=self._key) for v in values]  # type: ignore[union-attr]
        )
        waits = []
        for future in sent:
            done: asyncio.Future[None] = loop.create_future()
            future.add_callback(lambda _m, d=done: loop.call_soon_threadsafe(_settle, d, None))
            future.add_errback(lambda e, d=done: loop.call_soon_threadsafe(_settle, d, e))
            waits.append(done)
        await asyncio.gather(*waits)  # bounded by the caller (write) or the retry task

    async def _retry_loop(self) -> None:
        while True:
            await asyncio.sleep(self._retry_s)
            try:
                if self._producer is None or self._stale:
                    await asyncio.to_thread(self._reconnect)
                while self._backlog:
                    # In chunks, each bounded by the delivery timeout: a backlog of a long outage (up
                    # to MAX_BACKLOG events) would never fit in one, and the path would never be back.
                    chunk, self._backlog = self._backlog[:BACKLOG_CHUNK], self._backlog[BACKLOG_CHUNK:]
                    try:
                        await asyncio.wait_for(self._publish(chunk), timeout=self._timeout_s)
                    except BaseException:
                        self._backlog = chunk + self._backlog
                        raise
                    log.info("published %d audit events of earlier denied queries", len(chunk))
                    self._back()
                self._back()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._stale = True
                self._healthy = False
                log.warning("audit topic still unavailable: %s", exc)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(AuditUnavailable(f"audit event not acknowledged: {type(error).__name__}"))
