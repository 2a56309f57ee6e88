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
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from connectors.client import GatewayError
from connectors.events import EventClient, ReceivedEvent
from kafkaio.admin import ensure_topics
from kafkaio.commit import PendingCommits
from protocol.envelope import header
from protocol.jose import JoseFailure, canonical
from protocol.topics import KafkaNames

log = logging.getLogger(__name__)
Handler = Callable[[ReceivedEvent], None]
# Checks that could not be made (the registry did not answer) say nothing against the copy.
TRANSIENT = frozenset({"registry_unavailable"})


class HandledEvents:
    """Event ids already handled and acknowledged, the oldest forgotten first beyond `capacity`."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        """Remember one more handled event."""
        self._ids[event_id] = None
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


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
        delivery_id = header(headers, "delivery-id")
        try:
            event = self._client.open(value, headers)
            if event.event_id in self.handled:  # a duplicate or a redelivery of what was handled
                self._client.ack(event.delivery_id)
                return
            seen = self._delivered(event)
            # The routing the gateway routed on must be the one the publisher signed (docs/events.md).
            if canonical(seen.get("routing") or {}) != canonical(event.routing):
                raise JoseFailure("routing_mismatch", "the gateway routed on other routing than was signed")
        except JoseFailure as exc:
            if exc.code in TRANSIENT:  # the copy may well be fine: left unacknowledged, redelivered
                log.warning("delivery %s not checked now (%s); it is redelivered", delivery_id, exc)
                return
            self._dead_letter(producer, record, delivery_id, exc.code)
            return
        except (GatewayError, httpx.HTTPError) as exc:  # not acknowledged: the gateway redelivers it
            log.warning("gateway unreachable for delivery %s (%s); it is redelivered", delivery_id, exc)
            return
        try:
            self._handler(event)
        except Exception:
            log.exception("handler failed on event %s; the gateway redelivers it", event.event_id)
            return
        try:
            self._client.ack(event.delivery_id)
        except (GatewayError, httpx.HTTPError) as exc:  # handled again on redelivery: handlers are idempotent
            log.warning("ack of delivery %s failed (%s); it is redelivered", event.delivery_id, exc)
            return
        self.handled.add(event.event_id)

    def _delivered(self, event: ReceivedEvent) -> dict[str, Any]:
        """Report the copy delivered; a delivery the gateway does not know, or of another event, means
        the copy did not come through the gateway (put on the topic by someone else): refused."""
        try:
            seen = self._client.delivered(event.delivery_id)
        except GatewayError as exc:
            if exc.status_code == 404:
                raise JoseFailure("unknown_delivery", "the gateway sent no such delivery to us") from exc
            raise
        if seen.get("event_id") != event.event_id:
            raise JoseFailure("wrong_binding", "the delivery is of another event")
        return seen

    def _dead_letter(
        self, producer: KafkaProducer, record: ConsumerRecord, delivery_id: str | None, reason: str
    ) -> None:
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
        if delivery_id:
            try:
                self._client.dead_lettered(delivery_id, reason)
            except GatewayError as exc:  # a forged copy names a delivery that is not ours, or none
                log.info("dead letter of delivery %s not recorded: %s", delivery_id[:40], exc.status_code)


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
