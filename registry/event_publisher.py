"""Publishes committed registry changes on the `<ns>.registry` Kafka topic (DESIGN.md §7).

Created and closed by the process that owns it (the gateway's lifespan); kafka-python's producer is
thread-safe, so the request threads that commit registry writes may call `publish` directly.
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaProducer

from kafkaio.admin import ensure_topics
from protocol.topics import KafkaNames
from registry.events import RegistryEvent

log = logging.getLogger(__name__)


class RegistryEventPublisher:
    """Sends each committed event, stamped with this process's origin, to the registry topic."""

    def __init__(self, client_config: Mapping[str, Any], *, names: KafkaNames, origin: str) -> None:
        self._config = dict(client_config)
        self._topic = names.registry_topic
        self.origin = origin
        self._producer: KafkaProducer | None = None

    def start(self) -> None:
        """Create the topic if needed and connect the producer (blocking: call it off the event loop)."""
        ensure_topics(self._config, {self._topic: 1})
        self._producer = KafkaProducer(**self._config, acks="all", linger_ms=1)

    def publish(self, events: Sequence[RegistryEvent]) -> None:
        """Send the events (after their transaction committed); a broker problem is logged, not raised,
        because the write already happened and other gateways still refresh by age."""
        if self._producer is None:
            return
        for event in events:
            value = event.model_copy(update={"origin": self.origin}).model_dump_json().encode()
            try:
                self._producer.send(self._topic, key=event.code.encode() or None, value=value)
            except Exception:  # kafka-python raises several unrelated types here
                log.exception("could not publish registry event %s", event.type)

    def close(self) -> None:
        """Flush what is pending and close."""
        if self._producer is not None:
            self._producer.flush(10)
            self._producer.close(5)
            self._producer = None
