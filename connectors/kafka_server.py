"""Serves a department's request topic: read, answer, reply, and only then commit (DESIGN.md §7)."""

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from connectors.runtime import Connector
from kafkaio.admin import ensure_topics
from kafkaio.commit import PendingCommits
from protocol.envelope import SourceRequest, reply_headers
from protocol.topics import KafkaNames

log = logging.getLogger(__name__)


class KafkaConnectorServer:
    """Runs one connector against the broker until stopped."""

    def __init__(
        self,
        connector: Connector,
        client_config: Mapping[str, Any],
        *,
        names: KafkaNames,
        group_id: str | None = None,
        request_partitions: int = 3,
        reply_partitions: int = 12,
        membership: Mapping[str, Any] | None = None,
    ) -> None:
        if connector.reply_topic != names.reply_topic:
            raise ValueError(f"a connector on Kafka must be built with reply_topic={names.reply_topic!r}")
        self._connector = connector
        self._config = dict(client_config)
        self._names = names
        self._topic = names.request_topic(connector.department)
        self._group_id = group_id or names.connector_group(connector.department)
        self._partitions = {
            self._topic: request_partitions,
            names.reply_topic: reply_partitions,
            names.dlq_topic: 1,
        }
        # session_timeout_ms, heartbeat_interval_ms, group_instance_id (connectors/config.py KafkaConfig).
        self._membership = dict(membership or {})
        self.commits = PendingCommits()
        self._positioned: set[Any] = set()  # partitions whose start is known committed
        self.ready = threading.Event()
        self.handled = 0

    def serve(self, stop: threading.Event) -> None:
        """Poll, answer and commit until `stop` is set."""
        ensure_topics(self._config, self._partitions)
        producer = KafkaProducer(**self._config, acks="all", enable_idempotence=True, linger_ms=1)
        consumer = KafkaConsumer(
            **self._config,
            group_id=self._group_id,
            enable_auto_commit=False,
            # A group without a committed offset starts at the end, not at the topic's history: a brand-new
            # group (a connector's first start, a new namespace, a new group_id) would otherwise answer, or
            # dead-letter as expired, every request the topic still holds. Nothing a gateway still waits
            # for is lost: a request expires (signed `expires_at`) when its gateway stops waiting (the
            # source timeout, seconds), and before the group first formed no connector answered it
            # anyway. Once positioned, the start is committed (`_commit_start`), so a restart, a second
            # instance or a rebalance continues from there and never skips a request.
            auto_offset_reset="latest",
            max_poll_records=500,
            fetch_max_wait_ms=10,
            # A stale metadata view (topic just created) must heal in seconds, not the default 5 minutes.
            metadata_max_age_ms=10_000,
            **self._membership,
        )
        # Join the group only once our metadata shows the topic's partitions: joining earlier gets an
        # empty assignment that would last until the next metadata refresh.
        deadline = time.monotonic() + 60
        while not consumer.partitions_for_topic(self._topic) and time.monotonic() < deadline:
            if stop.wait(0.2):
                break
        consumer.subscribe([self._topic])
        try:
            while not stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                if consumer.assignment():
                    self._commit_start(consumer)
                    self.ready.set()
                # A commit refused by a rebalance is retried after the next poll, never fatal
                # (kafkaio/commit.py): a connector once exited with RebalanceInProgressError here.
                self.commits.commit(consumer)
                if not batches:
                    continue
                accepted: list[SourceRequest] = []
                try:
                    for records in batches.values():
                        for record in records:
                            if (request := self._answer(producer, record)) is not None:
                                accepted.append(request)
                    producer.flush(timeout=30)
                except Exception:
                    # Nothing is committed: rewind so the batch is answered again (duplicates are harmless,
                    # and answering again what was never delivered is not a replay).
                    log.exception("answering a batch failed; rewinding")
                    for request in accepted:
                        self._connector.forget(request)
                    for tp, records in batches.items():
                        consumer.seek(tp, records[0].offset)
                    continue
                self.commits.add({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
                self.commits.commit(consumer)
        finally:
            self.commits.commit(consumer)
            consumer.close()
            producer.close(timeout=5)
            self._connector.close()

    def _commit_start(self, consumer: KafkaConsumer) -> None:
        """Resolve and commit the position of each newly assigned partition that has no committed offset.

        Without it `latest` is re-read by whichever member next gets a partition nobody committed on yet
        (no request arrived there so far), and a request sent during that rebalance would be skipped.
        """
        self._positioned &= consumer.assignment()  # one given back and reassigned later is checked again
        fresh = consumer.assignment() - self._positioned
        if not fresh:
            return
        start = {tp: consumer.position(tp) for tp in fresh if consumer.committed(tp) is None}
        self.commits.add(start)
        self.commits.commit(consumer)
        self._positioned |= fresh

    def _answer(self, producer: KafkaProducer, record: ConsumerRecord) -> SourceRequest | None:
        """Answer one record; returns the accepted request (forgotten again if the batch is rewound)."""
        handled = self._connector.answer(record.value if isinstance(record.value, bytes) else b"")
        if handled.problem is not None:
            # Refused or unreadable requests are kept for inspection, and the gateway audits them when it
            # reads the dead-letter queue (exchange/dead_letters.py).
            log.warning(
                "dead-lettering %s-%d@%d: %s", record.topic, record.partition, record.offset, handled.problem
            )
            producer.send(
                self._names.dlq_topic,
                value=record.value,
                headers=[
                    *(record.headers or []),
                    ("dlq-reason", handled.problem.encode()),
                    ("dlq-by", self._connector.department.encode()),
                ],
            )
        request = handled.request
        if handled.reply is None or request is None or request.reply_to is None:
            return request  # not from the gateway: nothing is answered
        # The address comes from the signed request, the topic from our configuration (checked there).
        producer.send(
            self._names.reply_topic,
            partition=request.reply_to.partition,
            value=handled.reply,
            key=request.message_id.encode(),
            headers=reply_headers(request),
        )
        self.handled += 1
        return request
