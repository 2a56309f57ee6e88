"""Deployments sharing a broker, on the real broker: a namespace of their own each, no cross-talk; and a
connector group that is new does not answer the requests its topic already held."""

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from connectors.runtime import Connector, Handled
from exchange.transport.kafka import KafkaTransport
from protocol.clock import utcnow
from protocol.envelope import ReplyAddress, SourceRequest, request_headers
from protocol.jose import seal_subject
from protocol.topics import KafkaNames
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.integration.conftest import World

pytestmark = pytest.mark.integration
QUIET_S = 4.0  # how long "nothing arrives" is watched for


def _own_names() -> KafkaNames:
    """A namespace no other test run uses."""
    return KafkaNames(f"t-{uuid.uuid4().hex[:12]}")


class Counting(Connector):
    """A connector that counts every message it is handed (answered, refused or unreadable)."""

    def __init__(self, inner: Connector) -> None:
        self.__dict__.update(inner.__dict__)
        self.seen = 0

    def answer(self, message: bytes) -> Handled:
        self.seen += 1
        return super().answer(message)


def _counted(world: World, names: KafkaNames) -> Counting:
    wrapped: list[Counting] = []

    def wrap(connector: Connector) -> Connector:
        wrapped.append(Counting(connector))
        return wrapped[0]

    world.start_connector("psb", names=names, wrap=wrap)
    return wrapped[0]


def _tail(world: World, *topics: str) -> KafkaConsumer:
    """A reader at the current end of each topic's partition 0 (no group)."""
    consumer = KafkaConsumer(bootstrap_servers=world.bootstrap.split(","), group_id=None)
    tps = [TopicPartition(t, 0) for t in topics]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)
    return consumer


def _arrivals(consumer: KafkaConsumer, seconds: float) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got += [r for rs in consumer.poll(timeout_ms=200).values() for r in rs]
    consumer.close()
    return got


def _ask(world: World, client: TestClient) -> str:
    """zjj's question about a person's name (psb's element); the answer's status."""
    answer = world.consumer(client).query(
        subject_type="person",
        subject_id=world.subjects.demo_person,
        elements=["person.name"],
        service_item=HOUSING_ITEM,
        case_no="ZJJ-2026-NS-001",
        on_behalf_of="wang.fang",
    )
    return answer.status


def test_two_deployments_with_their_own_namespaces_do_not_cross_talk(world: World) -> None:
    a, b = _own_names(), _own_names()
    # The same department code in both: only the namespace keeps them apart.
    in_a, in_b = _counted(world, a), _counted(world, b)
    dead_letters = _tail(world, a.dlq_topic, b.dlq_topic)
    world.names = a
    with TestClient(world.gateway()) as client:
        assert _ask(world, client) == "complete"
    assert (in_a.seen, in_b.seen) == (1, 0)
    world.names = b
    with TestClient(world.gateway()) as client:
        assert _ask(world, client) == "complete"
    assert (in_a.seen, in_b.seen) == (1, 1)
    assert _arrivals(dead_letters, 1.0) == []


def _request(world: World, names: KafkaNames, n: int) -> SourceRequest:
    source, consumer = world.keys("psb"), world.keys("zjj")
    source_kid, consumer_kid = next(reversed(source.encryption)), next(reversed(consumer.encryption))
    query_id = f"q-ns-{uuid.uuid4().hex[:8]}-{n}"
    return SourceRequest(
        query_id=query_id,
        consumer=world.dept("zjj"),
        source=world.dept("psb"),
        subject_type="person",
        subject_jwe=seal_subject(
            subject_type="person",
            subject_id=world.subjects.demo_person,
            query_id=query_id,
            recipient=source.encryption[source_kid],
            kid=source_kid,
        ),
        consumer_kid=consumer_kid,
        elements=["person.name"],
        service_item=HOUSING_ITEM,
        case_no=f"CASE-{n}",
        # Far from expired: with `earliest` a new group would answer every one of them.
        expires_at=utcnow() + timedelta(seconds=120),
        reply_to=ReplyAddress(topic=names.reply_topic, partition=0),
    )


def test_a_new_connector_group_answers_only_requests_sent_after_it_joined(world: World) -> None:
    world.names = names = _own_names()
    world.seed()  # the registry the connector looks the consumer's key up in
    config = {"bootstrap_servers": world.bootstrap.split(",")}
    transport = KafkaTransport(config, names=names, reply_partition=0)

    async def run() -> tuple[Counting, list[Any], Any]:
        await transport.start([world.dept("psb")])  # creates the namespace's topics
        try:
            producer = KafkaProducer(**config, acks="all")
            for n in range(5):  # the topic's history, before any connector of the group existed
                stale = _request(world, names, n)
                producer.send(
                    names.request_topic(stale.source), value=world.sign(stale), headers=request_headers(stale)
                )
            producer.flush(10)
            producer.close()
            replies = _tail(world, names.reply_topic, names.dlq_topic)
            connector = await asyncio.to_thread(_counted, world, names)
            quiet = await asyncio.to_thread(_arrivals, replies, QUIET_S)
            fresh = _request(world, names, 99)
            reply = await transport.request(
                fresh, world.sign(fresh), accept=world.accept(fresh), timeout=10.0
            )
            return connector, quiet, reply
        finally:
            await transport.stop()

    connector, quiet, reply = asyncio.run(run())
    assert quiet == [], "no reply and no dead letter for the requests sent before the group joined"
    assert reply.answers and connector.seen == 1  # only the request sent after it joined
