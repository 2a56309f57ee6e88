"""Every dead letter is audited: a source that refuses a request tells the gateway on `<ns>.dlq`.

Sources refuse requests that are unsigned, mis-signed, expired, replayed or misaddressed without
answering them (protocol/signed_messages.py), and put them on the dead-letter topic with the reason
(`dlq-reason`) and their department (`dlq-by`). The gateway reads that topic in one consumer group
shared by all its instances (so each dead letter is audited once) and writes a
`message.dead_lettered` record per message; the offset is committed only after the record is
durable, so a crash re-audits rather than loses (a duplicate record is harmless, a missing one is
not). The headers are the reporting connector's word: the record says who reported what, no more.
"""

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer

from exchange.audit import records
from exchange.audit.publisher import AuditPublisher
from exchange.audit.writer import AuditWriter
from kafkaio.admin import ensure_topics
from kafkaio.commit import PendingCommits
from protocol.envelope import header
from protocol.topics import KafkaNames

log = logging.getLogger(__name__)
WRITE_TIMEOUT_S = 30.0


class DeadLetterAuditor:
    """Reads `<ns>.dlq` in a thread and audits each message through the gateway's audit path."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        writer: AuditWriter | AuditPublisher,
        *,
        names: KafkaNames,
        gateway_id: str,
        membership: Mapping[str, Any] | None = None,
    ) -> None:
        self._config = dict(client_config)
        self._writer = writer
        self._names = names
        self._gateway = gateway_id
        self._membership = dict(membership or {"session_timeout_ms": 10_000, "heartbeat_interval_ms": 1_000})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.commits = PendingCommits()
        self.audited = 0

    async def start(self) -> None:
        """Start reading (from the running event loop, which the audit writer lives on)."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(ensure_topics, self._config, {self._names.dlq_topic: 1})
        self._thread = threading.Thread(target=self._run, name="shuyuan-dead-letters", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop reading and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)

    def _run(self) -> None:
        consumer = KafkaConsumer(
            **self._config,
            group_id=self._names.dead_letter_group,
            enable_auto_commit=False,
            # Every dead letter is audited, those sent before this group first formed too.
            auto_offset_reset="earliest",
            metadata_max_age_ms=10_000,
            **self._membership,
        )
        consumer.subscribe([self._names.dlq_topic])
        try:
            while not self._stop.is_set():
                batches: dict[Any, list[Any]] = {}
                try:
                    batches = consumer.poll(timeout_ms=500)
                    self.commits.commit(consumer)  # a refused commit is retried, never fatal
                    if not batches:
                        continue
                    self._audit([r for recs in batches.values() for r in recs])
                except Exception:
                    # The audit path is down (or the broker): nothing is committed; read again later.
                    log.exception("auditing dead letters failed; retrying")
                    self._rewind(consumer, batches)
                    self._stop.wait(1.0)
                    continue
                self.commits.add({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
                self.commits.commit(consumer)
        finally:
            self.commits.commit(consumer)
            consumer.close()

    def _audit(self, messages: list[Any]) -> None:
        batch = [
            records.dead_letter(
                gateway=self._gateway,
                reported_by=header(m.headers, "dlq-by"),
                reason=header(m.headers, "dlq-reason")
                or ("unsealable" if header(m.headers, "error") else "unknown"),
                request_id=header(m.headers, "message-id"),
            )
            for m in messages
        ]
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._writer.write(batch), self._loop).result(WRITE_TIMEOUT_S)
        self.audited += len(batch)

    @staticmethod
    def _rewind(consumer: KafkaConsumer, batches: Mapping[Any, list[Any]]) -> None:
        for tp, recs in batches.items():
            if recs:
                consumer.seek(tp, recs[0].offset)


def _reason(headers: Any) -> str:
    """A connector names its reason; the sealer's dead letters carry an `error` instead."""
    return header(headers, "dlq-reason") or ("unsealable" if header(headers, "error") else "unknown")
