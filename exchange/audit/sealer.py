"""`shuyuan audit sealer`: consume `<ns>.audit`, chain the events, write them to the database.

Offsets are committed only after the database transaction holding a batch has committed, so a crash
replays the batch; the chain dedupes by event id, so the effect is exactly once. There is one global
chain (docs/audit.md explains why): every sealer appends under the lock of the chain-head row, so even
two sealers that briefly overlap during a rebalance cannot fork it.
"""

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import ValidationError
from sqlalchemy import Engine

from exchange.audit import store
from exchange.audit.events import AuditEvent
from exchange.audit.keys import AuditKeyPair
from exchange.audit.store import CheckpointPolicy
from kafkaio.admin import ensure_topics
from kafkaio.commit import PendingCommits
from protocol.topics import KafkaNames

log = logging.getLogger(__name__)


class Sealer:
    """Chains what the audit topic holds into the database; one poll batch = one transaction.

    The topic, the group and the dead-letter topic are those of `names` (the deployment's namespace).
    """

    def __init__(
        self,
        engine: Engine,
        client_config: Mapping[str, Any],
        *,
        key: AuditKeyPair,
        policy: CheckpointPolicy,
        names: KafkaNames,
        partitions: int = 1,
        max_records: int = 2000,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 1_000,
        group_instance_id: str | None = None,
        max_poll_interval_ms: int = 30_000,
        topic_configs: Mapping[str, str] | None = None,
        max_lag: int = 50_000,
    ) -> None:
        self._engine = engine
        self._config = dict(client_config)
        self._key = key
        self._policy = policy
        self._topic = names.audit_topic
        self._dlq = names.dlq_topic
        self._partitions = partitions
        self._group = names.sealer_group
        self._max_records = max_records
        self._topic_configs = dict(topic_configs or {})
        self._max_lag = max_lag
        self._lag_reported = 0.0
        # A crashed member holds its partitions until the session times out (45 s by default): keep it
        # short so a restarted sealer takes over in seconds; a static member (group_instance_id) gets its
        # partitions back at once when it returns within the timeout (KIP-345).
        self._membership: dict[str, Any] = {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "group_instance_id": group_instance_id,
            # How long one batch may take before the group rebalances without this member, and also the
            # rebalance timeout: how long the coordinator holds a rebalance open for members to rejoin.
            # A batch (<= max_records events, one transaction) takes well under a second, and Kafka's
            # 5 minutes once kept a sealer's commits refused for minutes in the fault suite.
            "max_poll_interval_ms": max_poll_interval_ms,
        }
        self.commits = PendingCommits()
        self.ready = threading.Event()
        self.sealed = 0

    def serve(self, stop: threading.Event) -> None:
        """Run until `stop` is set; sign a last checkpoint on the way out."""
        ensure_topics(
            self._config,
            {self._topic: self._partitions, self._dlq: 1},
            configs={self._topic: self._topic_configs} if self._topic_configs else None,
        )
        with self._engine.begin() as conn:
            store.ensure_key(conn, self._key)
        consumer = KafkaConsumer(
            **self._config,
            group_id=self._group,
            enable_auto_commit=False,
            # Audit events are never skipped: a group without a committed offset reads from the start.
            auto_offset_reset="earliest",
            max_poll_records=self._max_records,
            fetch_max_wait_ms=50,
            # A group that formed before the topic's metadata arrived holds no partitions until the next
            # metadata refresh: keep that short rather than the 5 minute default.
            metadata_max_age_ms=10_000,
            **self._membership,
        )
        # Subscribe once the topic's partitions are known, so the first assignment already holds them.
        while not consumer.partitions_for_topic(self._topic) and not stop.wait(0.1):
            consumer.topics()
        consumer.subscribe([self._topic])
        dlq = KafkaProducer(**self._config, acks="all", enable_idempotence=True)
        try:
            while not stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                if not self.ready.is_set() and consumer.assignment():
                    log.info("sealing %s", sorted(tp.partition for tp in consumer.assignment()))
                    self.ready.set()
                records = [r for rs in batches.values() for r in rs]
                try:
                    self._seal(records, dlq)
                except Exception:
                    # The database is away: nothing was committed, so read the batch again later.
                    log.exception("sealing %d audit events failed; retrying", len(records))
                    _rewind(consumer)
                    stop.wait(1.0)
                    continue
                if records:
                    dlq.flush()  # a message sent to the DLQ must be durable before its offset moves on
                    self.commits.add(_next_offsets(records))
                # A commit refused by a rebalance is retried here after the next poll, never fatal.
                self.commits.commit(consumer)
                self._report_lag(consumer)
        finally:
            self._checkpoint(force=True)
            self.commits.commit(consumer)
            consumer.close()
            dlq.close(5)

    def _report_lag(self, consumer: KafkaConsumer, every_s: float = 10.0) -> None:
        """Log how far behind the topic's end this sealer is, loudly beyond `max_lag` (gateways' /readyz
        fail then too): the topic's retention bounds how long the backlog may wait."""
        now = time.monotonic()
        if now - self._lag_reported < every_s or not consumer.assignment():
            return
        self._lag_reported = now
        try:
            ends = consumer.end_offsets(list(consumer.assignment()))
            lag = sum(max(0, end - consumer.position(tp)) for tp, end in ends.items())
        except Exception as exc:  # a broker away: the poll loop reports that itself
            log.debug("sealer lag unknown: %s", exc)
            return
        if lag > self._max_lag:
            log.warning("sealer lag %d audit events (more than %d): add sealer capacity", lag, self._max_lag)
        else:
            log.info("sealer lag %d audit events; %d sealed since start", lag, self.sealed)

    def _seal(self, messages: list[Any], dlq: KafkaProducer) -> None:
        events = []
        for m in messages:
            try:
                events.append(AuditEvent.model_validate_json(m.value))
            except (ValidationError, ValueError) as exc:
                log.error("unparseable audit event at %s/%s: %s", m.partition, m.offset, exc)
                dlq.send(self._dlq, value=m.value, headers=[("error", json.dumps(str(exc)[:500]).encode())])
        with self._engine.begin() as conn:
            sealed = store.append(conn, events, key=self._key, policy=self._policy)
        self.sealed += len(sealed)

    def _checkpoint(self, *, force: bool) -> None:
        try:
            with self._engine.begin() as conn:
                store.maybe_checkpoint(conn, key=self._key, policy=self._policy, force=force)
        except Exception:
            log.exception("final audit checkpoint failed")


def _next_offsets(records: list[Any]) -> dict[TopicPartition, int]:
    """The offset to resume from of each partition in a batch: its last record's offset + 1."""
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
    return offsets


def _rewind(consumer: KafkaConsumer) -> None:
    """Go back to the last committed offsets (the start, when nothing was committed yet)."""
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
