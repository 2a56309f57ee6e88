"""A connector on the real broker: genuine (gateway-signed) requests it cannot read go to the
dead-letter queue with the reason, and the gateway still gets a (failed) signed reply instead of
waiting for its deadline; what is not a signed request is dead-lettered and never answered."""

import time
from datetime import timedelta
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from protocol.clock import utcnow
from protocol.envelope import ReplyAddress, SourceRequest, header, request_headers
from protocol.jose import seal_subject
from protocol.topics import DEFAULT
from tests.integration.conftest import World

pytestmark = pytest.mark.integration
REPLY_PARTITION = 11  # gateways in tests use the low partitions


def _request(world: World, *, query_id: str, subject_jwe: str) -> SourceRequest:
    zjj = world.keys("zjj")
    zjj_kid = next(iter(zjj.encryption))
    return SourceRequest(
        query_id=query_id,
        consumer=world.dept("zjj"),
        source=world.dept("psb"),
        subject_type="person",
        subject_jwe=subject_jwe,
        consumer_kid=zjj_kid,
        elements=["person.name"],
        service_item="330100-GZF-001",
        case_no="C-DLQ-1",
        expires_at=utcnow() + timedelta(seconds=60),
        reply_to=ReplyAddress(topic=DEFAULT.reply_topic, partition=REPLY_PARTITION),
    )


def _sealed(world: World, code: str, query_id: str) -> str:
    keys = world.keys(code)
    kid = next(iter(keys.encryption))
    return seal_subject(
        subject_type="person",
        subject_id=world.subjects.demo_person,
        query_id=query_id,
        recipient=keys.encryption[kid],
        kid=kid,
    )


def _read_until(consumer: KafkaConsumer, want: set[str], name: str) -> dict[str, Any]:
    """Records whose `name` header is in `want`, read until all are found (or 60 s pass)."""
    found: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while want - found.keys() and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=300).values():
            for record in records:
                value = header(record.headers, name)
                if value in want:
                    found[value] = record
    return found


def test_unreadable_requests_are_dead_lettered_and_answered_as_failed(world: World) -> None:
    world.seed()  # the registry the connector looks the consumer's key up in
    server = world.start_connector("psb")
    config = {"bootstrap_servers": world.bootstrap.split(",")}
    dlq = KafkaConsumer(**config, group_id=None, enable_auto_commit=False)
    replies = KafkaConsumer(**config, group_id=None, enable_auto_commit=False)
    dlq_tp, reply_tp = (
        TopicPartition(DEFAULT.dlq_topic, 0),
        TopicPartition(DEFAULT.reply_topic, REPLY_PARTITION),
    )
    dlq.assign([dlq_tp])
    dlq.seek_to_end(dlq_tp)
    dlq.position(dlq_tp)
    replies.assign([reply_tp])
    replies.seek_to_end(reply_tp)
    replies.position(reply_tp)
    good = _sealed(world, "psb", "q-dlq-1")
    tampered = good[:-8] + ("A" if good[-8] != "A" else "B") + good[-7:]
    requests = {
        "undecryptable": _request(world, query_id="q-dlq-1", subject_jwe=tampered),
        "unknown_key": _request(world, query_id="q-dlq-2", subject_jwe=_sealed(world, "hrss", "q-dlq-2")),
        "wrong_binding": _request(world, query_id="q-dlq-3", subject_jwe=good),  # lifted from q-dlq-1
    }
    producer = KafkaProducer(**config, acks="all")
    topic = DEFAULT.request_topic(world.dept("psb"))
    for request in requests.values():
        producer.send(topic, value=world.sign(request), headers=request_headers(request))
    producer.send(topic, value=b"{not json", headers=[("message-id", b"garbage-1")])
    producer.flush()
    producer.close()
    try:
        ids = {r.message_id for r in requests.values()}
        dead = _read_until(dlq, ids | {"garbage-1"}, "message-id")
        answered = _read_until(replies, ids, "correlation-id")
    finally:
        dlq.close()
        replies.close()
    assert {header(r.headers, "dlq-reason") for r in dead.values()} == {*requests, "unsigned"}
    assert {header(r.headers, "dlq-by") for r in dead.values()} == {world.dept("psb")}
    for problem, request in requests.items():
        assert header(dead[request.message_id].headers, "dlq-reason") == problem
        reply = world.accept(request)(answered[request.message_id].value)  # signed by psb
        assert [(a.status, a.reason, a.jws_jwe) for a in reply.answers] == [
            ("failed", "invalid_request", None)
        ]
    assert server.handled == len(requests)
