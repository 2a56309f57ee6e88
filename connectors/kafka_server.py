"""Serves a department's request topic: read, answer, reply, and only then commit (DESIGN.md §7)."""

import logging
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from connectors.runtime import Connector
from kafkaio.admin import ensure_topics
from kafkaio.commit import PendingCommits
from protocol.clock import utcnow
from protocol.envelope import SourceRequest, reply_address, reply_headers
from protocol.topics import DLQ_TOPIC, REPLY_TOPIC, request_topic

log = logging.getLogger(__name__)

# A request older than this was given up by its gateway long ago; answering it only adds load.
STALE_AFTER = timedelta(minutes=2)


class KafkaConnectorServer:
    """Runs one connector against the broker until stopped."""

    def __init__(
        self,
        connector: Connector,
        client_config: Mapping[str, Any],
        *,
        group_id: str | None = None,
        request_partitions: int = 3,
        reply_partitions: int = 12,
        membership: Mapping[str, Any] | None = None,
    ) -> None:
        self._connector = connector
        self._config = dict(client_config)
        self._topic = request_topic(connector.department)
        self._group_id = group_id or f"shuyuan.connector.{connector.department}"
        self._partitions = {self._topic: request_partitions, REPLY_TOPIC: reply_partitions, DLQ_TOPIC: 1}
        # session_timeout_ms, heartbeat_interval_ms, group_instance_id (connectors/config.py KafkaConfig).
        self._membership = dict(membership or {})
        self.commits = PendingCommits()
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
            auto_offset_reset="earliest",
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
                    self.ready.set()
                # A commit refused by a rebalance is retried after the next poll, never fatal
                # (kafkaio/commit.py): a connector once exited with RebalanceInProgressError here.
                self.commits.commit(consumer)
                if not batches:
                    continue
                try:
                    for records in batches.values():
                        for record in records:
                            self._answer(producer, record)
                    producer.flush(timeout=30)
                except Exception:
                    # Nothing is committed: rewind so the batch is answered again (duplicates are harmless).
                    log.exception("answering a batch failed; rewinding")
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

    def _answer(self, producer: KafkaProducer, record: ConsumerRecord) -> None:
        try:
            request = SourceRequest.model_validate_json(record.value)
            address = reply_address(record.headers)
        except ValueError as exc:
            log.warning(
                "unreadable request at %s-%d@%d: %s", record.topic, record.partition, record.offset, exc
            )
            producer.send(
                DLQ_TOPIC, value=record.value, headers=[*record.headers, ("dlq-reason", b"unparseable")]
            )
            return
        if utcnow() - request.created_at > STALE_AFTER:
            log.info("skipping stale request %s", request.message_id)
            return
        handled = self._connector.answer(request)
        if handled.problem is not None:
            # A request that cannot be decrypted or is bound to another query is kept for inspection;
            # the gateway still gets a (failed) reply, so its caller is not left waiting for the timeout.
            producer.send(
                DLQ_TOPIC,
                value=record.value,
                headers=[*record.headers, ("dlq-reason", handled.problem.encode())],
            )
        reply = handled.reply
        producer.send(
            address.topic,
            partition=address.partition,
            value=reply.model_dump_json().encode(),
            key=request.message_id.encode(),
            headers=reply_headers(reply),
        )
        self.handled += 1
