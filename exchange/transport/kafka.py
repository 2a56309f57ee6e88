"""Request-reply over Apache Kafka (DESIGN.md §7).

Each gateway instance reads only its own partition(s) of the reply topic and names its reply
partition inside every signed request (never in a header, which anyone on the way could change),
as Spring's ReplyingKafkaTemplate names it in a header, so any number of
gateway instances can share one reply topic without a consumer group rebalance losing replies.
"""

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from exchange.transport.base import ReplyCheck, SourceTimeout, SourceUnavailable, Transport
from kafkaio.admin import ensure_topics
from protocol.envelope import ReplyAddress, SourceReply, SourceRequest, header, request_headers
from protocol.jose import JoseFailure
from protocol.topics import KafkaNames

log = logging.getLogger(__name__)


class KafkaTransport(Transport):
    """Publishes requests to `<ns>.req.<dept>` and matches replies by correlation id."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        *,
        names: KafkaNames,
        reply_partition: int,
        reply_partitions: int = 12,
        request_partitions: int = 3,
    ) -> None:
        if not 0 <= reply_partition < reply_partitions:
            raise ValueError("reply_partition must be within the reply topic's partitions")
        self._config = dict(client_config)
        self._names = names
        self._reply = ReplyAddress(topic=names.reply_topic, partition=reply_partition)
        self._reply_partitions = reply_partitions
        self._request_partitions = request_partitions
        self._pending: dict[str, tuple[asyncio.Future[SourceReply], ReplyCheck]] = {}
        self._known_topics: set[str] = set()
        self._producer: KafkaProducer | None = None
        self._consumer: KafkaConsumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def reply_address(self) -> ReplyAddress:
        """This instance's reply partition."""
        return self._reply

    async def start(self, departments: list[str]) -> None:
        """Create the topics, start the producer and the reply reader."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._start_blocking, departments)

    def _start_blocking(self, departments: list[str]) -> None:
        topics = {self._names.reply_topic: self._reply_partitions, self._names.dlq_topic: 1}
        topics |= {self._names.request_topic(d): self._request_partitions for d in departments}
        topics |= {self._names.event_topic(d): self._request_partitions for d in departments}
        ensure_topics(self._config, topics)
        self._known_topics |= set(topics)
        self._producer = KafkaProducer(
            **self._config,
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            allow_auto_create_topics=False,
            # send() runs on the event loop: while the broker is away it may wait for metadata, and
            # must not hold every query for the default minute (the request times out as a source's).
            max_block_ms=1000,
        )
        consumer = KafkaConsumer(
            **self._config, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10
        )
        partition = TopicPartition(self._reply.topic, self._reply.partition)
        consumer.assign([partition])
        consumer.seek_to_end(partition)
        consumer.position(partition)  # resolve the end offset now, before any request can be answered
        self._consumer = consumer
        self._thread = threading.Thread(target=self._read_replies, name="shuyuan-replies", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop reading replies, flush and close."""
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close, 5)
        for future, _ in self._pending.values():
            future.cancel()

    async def request(
        self,
        request: SourceRequest,
        message: bytes,
        *,
        accept: ReplyCheck,
        timeout: float,
        key: bytes | None = None,
    ) -> SourceReply:
        """Publish the signed request (keyed by the subject's blind index); wait for an accepted reply."""
        if self._producer is None or self._loop is None:
            raise SourceUnavailable("transport not started")
        topic = self._names.request_topic(request.source)
        if topic not in self._known_topics:
            await asyncio.to_thread(ensure_topics, self._config, {topic: self._request_partitions})
            self._known_topics.add(topic)
        future: asyncio.Future[SourceReply] = self._loop.create_future()
        self._pending[request.message_id] = (future, accept)
        try:
            self._producer.send(topic, value=message, key=key, headers=request_headers(request))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise SourceTimeout(request.source) from exc
        except SourceTimeout:
            raise
        except Exception as exc:
            raise SourceUnavailable(f"{request.source}: {type(exc).__name__}") from exc
        finally:
            self._pending.pop(request.message_id, None)

    async def publish_event(
        self, department: str, message: bytes, *, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        """Publish one copy to `<ns>.evt.<dept>` and wait for the broker's acknowledgement (acks=all)."""
        if self._producer is None:
            raise SourceUnavailable("transport not started")
        topic = self._names.event_topic(department)
        if topic not in self._known_topics:
            await asyncio.to_thread(ensure_topics, self._config, {topic: self._request_partitions})
            self._known_topics.add(topic)
        try:
            future = self._producer.send(topic, value=message, key=key, headers=headers)
            await asyncio.to_thread(future.get, 10)
        except Exception as exc:
            raise SourceUnavailable(f"event copy to {department}: {type(exc).__name__}") from exc

    def _read_replies(self) -> None:
        assert self._consumer is not None and self._loop is not None
        while not self._stopping.is_set():
            try:
                batches = self._consumer.poll(timeout_ms=100)
            except Exception:
                log.exception("reply poll failed; retrying")
                continue
            for records in batches.values():
                for record in records:
                    self._deliver(record.value, record.headers)
        self._consumer.close()

    def _deliver(self, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        # The header only finds the waiting request; whether the reply is genuine is `accept`'s check
        # of the source's signature, so a forged reply with a guessed id cannot pre-empt the real one.
        correlation_id = header(headers, "correlation-id")
        pending = self._pending.get(correlation_id or "")
        if pending is None:
            return  # a late reply after its deadline, or a duplicate: harmless
        future, accept = pending
        try:
            reply = accept(value if isinstance(value, bytes) else b"")
        except JoseFailure as exc:
            log.warning("refused reply for %s: %s", correlation_id, exc.code)
            return
        except Exception:  # a bug in a check must not stop the reply reader of every query
            log.exception("checking a reply for %s failed", correlation_id)
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve, future, reply)


def _resolve(future: asyncio.Future[SourceReply], reply: SourceReply) -> None:
    if not future.done():
        future.set_result(reply)
