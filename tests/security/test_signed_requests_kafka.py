"""Only the gateway can ask a source, and only for the consumer it names (issue 9, attack 3).

Attacks on the real broker and database, by a client of the broker that is not the gateway: it sends
requests of its own, forges the gateway's signature, changes a genuine request on the way, replays a
captured one, and answers in a source's place. Each must leave the source silent (nothing looked up,
nothing answered) or the reply refused, and each refusal must reach the audit chain.
"""

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import select

from exchange.audit.models import AuditEntry
from protocol.clock import utcnow
from protocol.envelope import ElementAnswer, ReplyAddress, SourceReply, SourceRequest, header
from protocol.jose import seal_subject
from protocol.signed_messages import sign_reply, sign_request
from protocol.topics import DEFAULT
from registry.db import make_engine
from shuyuan.app import app_state
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.integration.conftest import World, open_world
from tests.sourcekit import payload_of

pytestmark = pytest.mark.integration
ATTACKER_PARTITION = 9  # where the attacker would like replies to go


@pytest.fixture
def world(pg_database: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[World]:
    """An isolated sample exchange on the real broker and database (tests/integration/conftest.py)."""
    yield from open_world(pg_database, kafka_bootstrap, tmp_path)


@pytest.fixture
def exchange(world: World) -> Iterator[tuple[World, TestClient]]:
    """This world's gateway (audit written straight to the database) and psb's connector."""
    with TestClient(world.gateway(audit={"path": "direct"}, source_timeout_s=4.0)) as client:
        world.start_connector("psb")
        yield world, client


def _request(world: World, query_id: str, **changes: Any) -> SourceRequest:
    psb, zjj = world.keys("psb"), world.keys("zjj")
    psb_kid = next(reversed(psb.encryption))
    return SourceRequest(
        query_id=query_id,
        consumer=world.dept("zjj"),
        source=world.dept("psb"),
        subject_type="person",
        subject_jwe=seal_subject(
            subject_type="person",
            subject_id=world.subjects.demo_person,
            query_id=query_id,
            recipient=psb.encryption[psb_kid],
            kid=psb_kid,
        ),
        consumer_kid=next(reversed(zjj.encryption)),
        elements=["person.name"],
        service_item=HOUSING_ITEM,
        case_no="ATTACK-1",
        expires_at=utcnow() + timedelta(seconds=60),
        reply_to=ReplyAddress(topic=DEFAULT.reply_topic, partition=ATTACKER_PARTITION),
        **changes,
    )


def _reply_reader(world: World, partition: int) -> KafkaConsumer:
    consumer = KafkaConsumer(bootstrap_servers=world.bootstrap.split(","), group_id=None)
    tp = TopicPartition(DEFAULT.reply_topic, partition)
    consumer.assign([tp])
    consumer.seek_to_end(tp)
    consumer.position(tp)
    return consumer


def _replies_for(consumer: KafkaConsumer, ids: set[str], seconds: float) -> list[str]:
    """Correlation ids among `ids` seen on the reply partition within `seconds`."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=300).values():
            seen += [c for r in records if (c := header(r.headers, "correlation-id")) in ids]
    return seen


def _dead_letter_audit(world: World, ids: set[str], seconds: float = 45) -> dict[str, tuple[str, str]]:
    """message id -> (reason, reporting department) of the `message.dead_lettered` audit records."""
    engine = make_engine(world.database_url)
    found: dict[str, tuple[str, str]] = {}
    try:
        deadline = time.monotonic() + seconds
        while ids - found.keys() and time.monotonic() < deadline:
            stmt = select(AuditEntry.request_id, AuditEntry.reason, AuditEntry.source).where(  # type: ignore[call-overload]
                AuditEntry.action == "message.dead_lettered"
            )
            with engine.connect() as conn:
                found = {r[0]: (r[1], r[2]) for r in conn.execute(stmt) if r[0] in ids}
            time.sleep(0.5)
    finally:
        engine.dispose()
    return found


def test_requests_not_signed_by_the_gateway_are_not_answered_and_are_audited(
    exchange: tuple[World, TestClient],
) -> None:
    world, _ = exchange
    genuine = world.sign(_request(world, "q-attack-genuine"))
    attacker_key = OKPKey.generate_key("Ed25519")
    gateway_kid = next(iter(world.signer().public_keys()))
    unsigned = _request(world, "q-attack-unsigned")
    forged = _request(world, "q-attack-forged")
    # A genuine request with the reply address changed on the way: header and signature kept.
    head, _, signature = genuine.split(b".")
    redirected_body = payload_of(genuine) | {"reply_to": {"topic": DEFAULT.reply_topic, "partition": 3}}
    redirected = b".".join(
        [head, base64.urlsafe_b64encode(json.dumps(redirected_body).encode()).rstrip(b"="), signature]
    )
    messages = {
        unsigned.message_id: unsigned.model_dump_json().encode(),  # a plain request, as before signing
        forged.message_id: sign_request(forged, key=attacker_key, kid=gateway_kid),  # the gateway's kid
        str(payload_of(genuine)["message_id"]): redirected,
    }
    replies = _reply_reader(world, ATTACKER_PARTITION)
    other = _reply_reader(world, 3)
    producer = KafkaProducer(bootstrap_servers=world.bootstrap.split(","), acks="all")
    for message_id, value in messages.items():
        producer.send(
            DEFAULT.request_topic(world.dept("psb")),
            value=value,
            headers=[("message-id", message_id.encode())],
        )
    producer.flush()
    producer.close()
    try:
        audited = _dead_letter_audit(world, set(messages))
        assert _replies_for(replies, set(messages), 3) == []
        assert _replies_for(other, set(messages), 1) == []
    finally:
        replies.close()
        other.close()
    psb = world.dept("psb")
    assert audited == {
        unsigned.message_id: ("unsigned", psb),
        forged.message_id: ("invalid_signature", psb),
        str(payload_of(genuine)["message_id"]): ("invalid_signature", psb),
    }


def test_a_captured_request_replayed_is_not_answered_again_and_is_audited(
    exchange: tuple[World, TestClient],
) -> None:
    world, client = exchange
    # The attacker reads psb's request topic (a broker client without ACLs) while a real query runs.
    spy = KafkaConsumer(bootstrap_servers=world.bootstrap.split(","), group_id=None)
    tps = [TopicPartition(DEFAULT.request_topic(world.dept("psb")), p) for p in range(3)]
    spy.assign(tps)
    spy.seek_to_end(*tps)
    for tp in tps:
        spy.position(tp)
    answer = world.consumer(client).query(
        subject_type="person",
        subject_id=world.subjects.demo_person,
        elements=["person.name"],
        service_item=HOUSING_ITEM,
        case_no="ATTACK-REPLAY",
        on_behalf_of="wang.fang",
    )
    assert answer.status == "complete"
    captured = [r for recs in spy.poll(timeout_ms=5000).values() for r in recs]
    spy.close()
    assert len(captured) == 1
    message_id = header(captured[0].headers, "message-id") or ""
    reply_partition = int(payload_of(captured[0].value)["reply_to"]["partition"])  # type: ignore[index]
    replies = _reply_reader(world, reply_partition)
    producer = KafkaProducer(bootstrap_servers=world.bootstrap.split(","), acks="all")
    producer.send(captured[0].topic, value=captured[0].value, headers=captured[0].headers)
    producer.flush()
    producer.close()
    try:
        audited = _dead_letter_audit(world, {message_id})
        assert _replies_for(replies, {message_id}, 2) == []
    finally:
        replies.close()
    assert audited == {message_id: ("replayed", world.dept("psb"))}


def test_a_reply_not_signed_by_the_asked_source_is_refused_and_audited(world: World) -> None:
    """Nobody serves psb; a broker client answers in its place, unsigned and with hrss's real key."""
    with TestClient(world.gateway(audit={"path": "direct"}, source_timeout_s=4.0)) as client:
        spy = KafkaConsumer(
            bootstrap_servers=world.bootstrap.split(","),
            group_id=f"attacker-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="latest",
        )
        spy.subscribe([DEFAULT.request_topic(world.dept("psb"))])
        while not spy.assignment():
            spy.poll(timeout_ms=200)
        producer = KafkaProducer(bootstrap_servers=world.bootstrap.split(","), acks="all")
        hrss = world.keys("hrss")
        done = threading.Event()

        def _impersonate() -> None:
            while not done.is_set():
                for records in spy.poll(timeout_ms=200).values():
                    for record in records:
                        request = payload_of(record.value)
                        forged = SourceReply(
                            correlation_id=str(request["message_id"]),
                            source=world.dept("psb"),
                            answers=[ElementAnswer(code="person.name", status="not_found")],
                        )
                        partition = int(request["reply_to"]["partition"])  # type: ignore[index]
                        headers = [("correlation-id", forged.correlation_id.encode())]
                        for value in (
                            forged.model_dump_json().encode(),
                            sign_reply(forged, key=hrss.signing_key, kid=hrss.signing_kid),
                        ):
                            producer.send(
                                DEFAULT.reply_topic, partition=partition, value=value, headers=headers
                            )
                        producer.flush()

        thread = threading.Thread(target=_impersonate, daemon=True)
        thread.start()
        try:
            body = {
                "query_id": "q-attack-forged-reply",
                "subject": {"type": "person", "id": world.subjects.demo_person},
                "elements": ["person.name"],
                "purpose": {"service_item": HOUSING_ITEM, "case_no": "ATTACK-REPLY"},
                "on_behalf_of": "wang.fang",
                "requested_at": utcnow().isoformat(),
            }
            consumer = world.consumer(client)
            response = consumer.send(body)
        finally:
            done.set()
            thread.join(5)
            spy.close()
            producer.close()
        assert response.status_code == 200
        (result,) = response.json()["results"]
        assert (result["status"], result["reason"]) == ("unavailable", "source_unavailable")
        stmt = select(AuditEntry.action, AuditEntry.reason).where(  # type: ignore[call-overload]
            AuditEntry.request_id == "q-attack-forged-reply"
        )
        with app_state(client.app).engine.connect() as conn:  # type: ignore[arg-type]
            rows = [tuple(r) for r in conn.execute(stmt)]
    assert ("answer.rejected", "reply_unsigned") in rows
    assert ("answer.rejected", "reply_unknown_key") in rows  # hrss's key is not psb's
    assert ("source.failed", "source_unavailable") in rows
    assert not any(action == "source.answered" for action, _ in rows)
