"""Keeps this gateway's registry caches in step with other processes over `<ns>.registry`.

Registry writes made here are published (RegistryEventPublisher); events published by other processes
invalidate the catalogue cache at once, without waiting for SHUYUAN_CATALOGUE_REFRESH_S. The reader
uses manual assignment (no consumer group: every gateway must see every event) and starts at the end
of the topic, because a fresh cache needs no history. Expired agreements are marked periodically.
"""

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError
from sqlalchemy import Engine

from protocol.topics import KafkaNames
from registry.agreements import service as agreements
from registry.db import unit_of_work
from registry.event_publisher import RegistryEventPublisher
from registry.events import RegistryChanges, RegistryEvent, pending

log = logging.getLogger(__name__)


class RegistryEventListener:
    """Calls `on_change` for every registry event another process published."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        *,
        names: KafkaNames,
        origin: str,
        on_change: Callable[[], None],
    ) -> None:
        self._config = dict(client_config)
        self._topic = names.registry_topic
        self._origin = origin
        self._on_change = on_change
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start reading in a daemon thread and wait until it is positioned at the topic's end."""
        self._thread = threading.Thread(target=self._run, daemon=True, name="registry-events")
        self._thread.start()
        if not self.ready.wait(30):
            raise RuntimeError(f"could not start reading {self._topic}")

    def _run(self) -> None:
        consumer = KafkaConsumer(**self._config, group_id=None, enable_auto_commit=False)
        try:
            partitions = [
                TopicPartition(self._topic, p)
                for p in sorted(consumer.partitions_for_topic(self._topic) or {0})
            ]
            consumer.assign(partitions)
            consumer.seek_to_end(*partitions)
            for tp in partitions:
                consumer.position(tp)  # resolve now: events after start-up must not be skipped
            self.ready.set()
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    self._handle([r.value for r in records])
        except Exception:
            log.exception("registry event reader stopped")
        finally:
            consumer.close()

    def _handle(self, values: list[bytes]) -> None:
        foreign = False
        for value in values:
            try:
                event = RegistryEvent.model_validate_json(value)
            except ValidationError:
                log.warning("ignored a malformed message on %s", self._topic)
                continue
            foreign = foreign or event.origin != self._origin
        if foreign:
            self._on_change()

    def stop(self) -> None:
        """Stop reading."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


class RegistrySync:
    """What a gateway runs for the registry: event publication and reading (Kafka), periodic expiry."""

    def __init__(
        self,
        *,
        engine: Engine,
        changes: RegistryChanges,
        kafka_config: Mapping[str, Any] | None,
        names: KafkaNames,
        expiry_check_s: float,
    ) -> None:
        self._engine = engine
        self._changes = changes
        self._expiry_check_s = expiry_check_s
        origin = f"gw-{uuid.uuid4().hex[:12]}"
        self.publisher = (
            RegistryEventPublisher(kafka_config, names=names, origin=origin)
            if kafka_config is not None
            else None
        )
        self.listener = (
            RegistryEventListener(
                kafka_config, names=names, origin=origin, on_change=changes.changed_elsewhere
            )
            if kafka_config is not None
            else None
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect to Kafka (if configured) and start the expiry loop."""
        if self.publisher is not None and self.listener is not None:
            await asyncio.to_thread(self.publisher.start)
            self._changes.subscribe_events(self.publisher.publish)
            await asyncio.to_thread(self.listener.start)
        self._task = asyncio.create_task(self._expire_periodically())

    async def _expire_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._expiry_check_s)
            try:
                await asyncio.to_thread(self.expire_now)
            except Exception:
                log.exception("expiring agreements failed; retrying next period")

    def expire_now(self) -> int:
        """Mark due agreements expired in one transaction and announce it; returns how many."""
        with unit_of_work(self._engine) as session:
            expired = agreements.expire_due(session=session)
            recorded = list(pending(session))
        if recorded:
            self._changes.changed(recorded)
        return len(expired)

    async def stop(self) -> None:
        """Stop the loop, the reader and the publisher."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.listener is not None:
            await asyncio.to_thread(self.listener.stop)
        if self.publisher is not None:
            await asyncio.to_thread(self.publisher.close)
