"""Serves a department's event topic: open and verify each copy, report it, handle it, acknowledge it,
and only then commit the offset (docs/events.md).

Unlike requests, events are never skipped: a new group starts at the topic's beginning
(`auto_offset_reset=earliest`). Duplicates are harmless: handled event ids are remembered (bounded)
and an acknowledgement is idempotent at the gateway. A handler that raises is not acknowledged; the
offset still moves on, and the gateway redelivers the copy with backoff until it is acknowledged
(so one bad event never blocks the partition). A copy that fails verification is dead-lettered with
its reason and reported, and never reaches the handler.
"""

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from connectors.event_handling import HandledEvents, Handler, handle_copy
from connectors.events import EventClient, ReceivedEvent
from kafkaio.admin import ensure_topics
from kafkaio.commit import PendingCommits
from protocol.topics import KafkaNames

log = logging.getLogger(__name__)


class EventSubscriber:
    """Runs one department's event subscription against the broker until stopped."""

    def __init__(
        self,
        client: EventClient,
        handler: Handler,
        client_config: Mapping[str, Any],
        *,
        names: KafkaNames,
        partitions: int = 3,
    ) -> None:
        self._client = client
        self._handler = handler
        self._config = dict(client_config)
        self._names = names
        self._topic = names.event_topic(client.department)
        self._group = names.event_group(client.department)
        self._partitions = partitions
        self.commits = PendingCommits()
        self.handled = HandledEvents()
        self.dead_lettered = 0
        self.ready = threading.Event()

    def serve(self, stop: threading.Event) -> None:
        """Poll, verify, handle, acknowledge and commit until `stop` is set."""
        ensure_topics(self._config, {self._topic: self._partitions, self._names.dlq_topic: 1})
        producer = KafkaProducer(**self._config, acks="all", enable_idempotence=True, linger_ms=1)
        consumer = KafkaConsumer(
            **self._config,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # an event published before the first start is still told
            max_poll_records=100,
            fetch_max_wait_ms=10,
            metadata_max_age_ms=10_000,
            max_poll_interval_ms=30_000,
        )
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
                self.commits.commit(consumer)
                for tp, records in batches.items():
                    for record in records:
                        self._one(producer, record)
                    producer.flush(timeout=30)
                    self.commits.add({tp: records[-1].offset + 1})
                self.commits.commit(consumer)
        finally:
            self.commits.commit(consumer)
            consumer.close()
            producer.close(timeout=5)

    def _one(self, producer: KafkaProducer, record: ConsumerRecord) -> None:
        value = record.value if isinstance(record.value, bytes) else b""
        headers = list(record.headers or [])
        handle_copy(
            self._client,
            self._handler,
            self.handled,
            value,
            headers,
            on_refused=lambda reason: self._dead_letter(producer, record, reason),
        )

    def _dead_letter(self, producer: KafkaProducer, record: ConsumerRecord, reason: str) -> None:
        """Put a refused copy on the dead-letter topic with its reason (the gateway is told by
        handle_copy)."""
        log.warning("dead-lettering %s-%d@%d: %s", record.topic, record.partition, record.offset, reason)
        producer.send(
            self._names.dlq_topic,
            value=record.value,
            headers=[
                *(record.headers or []),
                ("dlq-reason", reason.encode()),
                ("dlq-by", self._client.department.encode()),
            ],
        )
        self.dead_lettered += 1


def sqlite_handler(path: Path) -> Handler:
    """A handler that keeps each received event in the department's SQLite (table `received_event`)."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS received_event (event_id TEXT PRIMARY KEY, type TEXT, publisher TEXT,"
            " subject_type TEXT, subject_id TEXT, payload TEXT, published_at TEXT, received_at TEXT)"
        )

    def handle(event: ReceivedEvent) -> None:
        with sqlite3.connect(path) as conn:  # the application's own commit: an event stored once
            conn.execute(
                "INSERT OR IGNORE INTO received_event VALUES (?, ?, ?, ?, ?, ?, ?, datetime('now'))",
                (
                    event.event_id,
                    event.type,
                    event.publisher,
                    event.subject_type,
                    event.subject_id,
                    json.dumps(event.payload, ensure_ascii=False),
                    event.published_at.isoformat(),
                ),
            )

    return handle
