"""Events (双告知, SCENARIOS.md A) over the real broker and the real database: a licence told to market
regulation and, for a food business, to the food-safety office; what a non-recipient can read of it;
a forged copy; a handler that fails once and is redelivered to."""

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import create_engine, select

from connectors.client import GatewayError
from connectors.event_subscriber import EventSubscriber, sqlite_handler
from connectors.events import EventClient, ReceivedEvent
from exchange.audit.models import AuditEntry
from exchange.audit.settings import AuditSettings
from protocol.envelope import header
from protocol.event_copies import EventClaims, EventSubject, copy_headers, seal_copy
from protocol.jose import JoseFailure, import_public
from shuyuan.sample_catalogue import LICENSE_ISSUED
from tests.integration.conftest import World

pytestmark = pytest.mark.integration

FOOD = {"business_scope": "食品销售;预包装食品", "licence_type": "food_business_licence"}
SHOP = {"business_scope": "日用百货零售", "licence_type": "business_licence"}


def payload(routing: dict[str, Any]) -> dict[str, Any]:
    """A license.issued payload with these routing fields."""
    return {
        "licence_no": "JY13301000000042",
        "enterprise_name": "杭州某某餐饮有限公司",
        "issued_on": "2026-12-01",
    } | routing


def events_client(world: World, client: TestClient, code: str) -> EventClient:
    """A sample department's events SDK with a real token of its system."""
    return world.events(client, code)


def subscribe(
    world: World, client: TestClient, code: str, handler: Callable[[ReceivedEvent], None]
) -> EventSubscriber:
    """Run a department's event subscriber until the test ends."""
    subscriber = EventSubscriber(
        events_client(world, client, code),
        handler,
        {"bootstrap_servers": world.bootstrap.split(",")},
        names=world.names,
    )
    stop = threading.Event()
    thread = threading.Thread(target=subscriber.serve, args=(stop,), daemon=True, name=f"events-{code}")
    thread.start()
    world.stops.append(stop)
    world.threads.append(thread)
    assert subscriber.ready.wait(60), f"{code}'s subscriber did not join its group"
    return subscriber


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> float:
    """Seconds until `check()` holds (fails the test after `timeout`)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)
    return time.monotonic() - started


def audit(world: World, event_id: str) -> list[tuple[str, str | None]]:
    """(action, recipient) of the event's audit records."""
    engine = create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(AuditEntry.action, AuditEntry.source).where(
                    AuditEntry.request_id == f"event:{event_id}"
                )  # type: ignore[arg-type]
            ).all()
    finally:
        engine.dispose()
    return [(r.action, r.source) for r in rows]


def gateway(world: World) -> TestClient:
    """This world's gateway, its audit chain in its database (records checked below)."""
    return TestClient(world.gateway(audit=AuditSettings(path="direct")))


def test_scenario_a_a_food_licence_is_told_to_amr_and_the_food_safety_office_at_once(world: World) -> None:
    received: dict[str, list[ReceivedEvent]] = {"amr": [], "fso": []}
    with gateway(world) as client:
        store = sqlite_handler(world.data_dir / "amr.sqlite")

        def amr(event: ReceivedEvent) -> None:
            store(event)
            received["amr"].append(event)

        subscribe(world, client, "amr", amr)
        subscribe(world, client, "fso", received["fso"].append)
        xzsp = events_client(world, client, "xzsp")
        firm = world.subjects.demo_enterprise
        started = time.monotonic()
        read = xzsp.publish(
            type=LICENSE_ISSUED,
            subject_type="enterprise",
            subject_id=firm,
            routing=FOOD,
            payload=payload(FOOD),
        )
        wait_for(lambda: bool(received["amr"]) and bool(received["fso"]))
        told_in = time.monotonic() - started
        event_id = read["event_id"]
        publisher = {"Authorization": f"Bearer {xzsp._auth}"}
        wait_for(
            lambda: (
                [
                    d["state"]
                    for d in client.get(f"/v1/events/{event_id}", headers=publisher).json()["deliveries"]
                ]
                == ["acknowledged", "acknowledged"]
            )
        )
    assert told_in < 1.0, f"told after {told_in:.2f} s"
    for dept in ("amr", "fso"):
        (event,) = received[dept]
        assert (event.event_id, event.publisher, event.subject_id) == (event_id, world.dept("xzsp"), firm)
        assert event.payload["enterprise_name"] == "杭州某某餐饮有限公司"
    with sqlite3.connect(world.data_dir / "amr.sqlite") as conn:  # what amr's application kept
        kept = conn.execute(
            "SELECT type, subject_id FROM received_event WHERE event_id = ?", (event_id,)
        ).fetchall()
    assert kept == [(LICENSE_ISSUED, firm)]
    steps = audit(world, event_id)
    for dept in ("amr", "fso"):
        for action in ("event.routed", "event.delivered", "event.acknowledged"):
            assert (action, world.dept(dept)) in steps
    assert ("event.published", None) in steps


def test_a_shop_licence_goes_to_amr_only_and_a_non_recipient_reading_its_topic_opens_nothing(
    world: World,
) -> None:
    # The default audit path on Kafka: the event and its deliveries are committed once the audit
    # topic acknowledged their records (exchange/audit/publisher.py).
    with TestClient(world.gateway()) as client:
        xzsp = events_client(world, client, "xzsp")
        read = xzsp.publish(
            type=LICENSE_ISSUED,
            subject_type="enterprise",
            subject_id=world.subjects.demo_enterprise,
            routing=SHOP,
            payload=payload(SHOP),
        )
        assert [d["recipient"] for d in read["deliveries"]] == [world.dept("amr")]
        # psb has a broker client too (any certificate in the unsecured profile): it reads amr's topic.
        copies = _read_topic(world, world.names.event_topic(world.dept("amr")), read["event_id"])
        assert copies, "the copy is on amr's topic"
        psb = events_client(world, client, "psb")
        fso = events_client(world, client, "fso")
        for value, headers in copies:
            assert b"JY13301000000042" not in value and world.subjects.demo_enterprise.encode() not in value
            for outsider in (psb, fso):
                with pytest.raises(JoseFailure) as refused:
                    outsider.open(value, headers)
                assert refused.value.code == "unknown_key"


def _read_topic(
    world: World, topic: str, event_id: str | None = None
) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    consumer = KafkaConsumer(
        bootstrap_servers=world.bootstrap.split(","), group_id=None, enable_auto_commit=False
    )
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        found: list[tuple[bytes, list[tuple[str, bytes]]]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not found:
            for records in consumer.poll(timeout_ms=300).values():
                found += [
                    (r.value, list(r.headers))
                    for r in records
                    if event_id is None or header(r.headers, "message-id") == event_id
                ]
        return found
    finally:
        consumer.close()


def test_a_forged_copy_is_dead_lettered_and_never_handled(world: World) -> None:
    handled: list[ReceivedEvent] = []
    with gateway(world) as client:
        amr_sub = subscribe(world, client, "amr", handled.append)
        amr_key = world.keys("amr")
        kid, enc = next(iter(amr_key.encryption.items()))
        forger = OKPKey.generate_key("Ed25519")  # not a key of xzsp's in the registry
        forged_id = f"forged-{uuid.uuid4().hex[:12]}"
        claims = EventClaims(
            event_id=forged_id,
            type=LICENSE_ISSUED,
            publisher=world.dept("xzsp"),
            subject=EventSubject(type="enterprise", id=world.subjects.demo_enterprise),
            routing=SHOP,
            payload=payload(SHOP),
            recipient=world.dept("amr"),
            published_at=datetime.now(UTC),
        )
        public = import_public(
            {k: v for k, v in enc.as_dict(private=False).items()} | {"kid": kid}, use="enc"
        )
        copy = seal_copy(
            claims,
            signing_key=forger,
            signing_kid="xzsp-looking-kid",
            recipient_key=public,
            recipient_kid=kid,
        )
        headers = copy_headers(
            event_id=forged_id,
            delivery_id=uuid.uuid4().hex,
            type=LICENSE_ISSUED,
            publisher=world.dept("xzsp"),
            recipient=world.dept("amr"),
            routing=SHOP,
        )
        producer = KafkaProducer(bootstrap_servers=world.bootstrap.split(","))
        producer.send(world.names.event_topic(world.dept("amr")), value=copy.encode(), headers=headers)
        producer.flush()
        producer.close()
        wait_for(lambda: amr_sub.dead_lettered >= 1)
    assert handled == []
    letters = [
        h
        for _, h in _read_topic(world, world.names.dlq_topic, forged_id)
        if header(h, "dlq-by") == world.dept("amr")
    ]
    assert [header(h, "dlq-reason") for h in letters] == ["unknown_key"]


def test_a_handler_that_fails_once_is_redelivered_to_and_ends_acknowledged(world: World) -> None:
    calls: list[str] = []

    def flaky(event: ReceivedEvent) -> None:
        calls.append(event.event_id)
        if len(calls) == 1:
            raise RuntimeError("the application's database was busy")

    with gateway(world) as client:
        subscribe(world, client, "amr", flaky)
        xzsp = events_client(world, client, "xzsp")
        read = xzsp.publish(
            type=LICENSE_ISSUED,
            subject_type="enterprise",
            subject_id=world.subjects.demo_enterprise,
            routing=SHOP,
            payload=payload(SHOP),
        )
        event_id = read["event_id"]
        publisher = {"Authorization": f"Bearer {xzsp._auth}"}

        def state() -> dict[str, Any]:
            return dict(client.get(f"/v1/events/{event_id}", headers=publisher).json()["deliveries"][0])

        wait_for(lambda: state()["state"] == "acknowledged", timeout=30)
        assert state()["attempts"] >= 2
    assert calls == [event_id, event_id]
    steps = [a for a, _ in audit(world, event_id)]
    for action in (
        "event.published",
        "event.routed",
        "event.delivered",
        "event.redelivered",
        "event.acknowledged",
    ):
        assert action in steps


def test_bad_publishes_are_refused_with_their_reasons_and_audited(world: World) -> None:
    with gateway(world) as client:
        xzsp, amr = events_client(world, client, "xzsp"), events_client(world, client, "amr")
        firm = {"type": "enterprise", "id": world.subjects.demo_enterprise}

        def refused(who: EventClient, **body: Any) -> tuple[int, str]:
            with pytest.raises(GatewayError) as caught:
                who.recipients(**({"type": LICENSE_ISSUED, "subject": firm, "routing": FOOD} | body))
            return caught.value.status_code, str(caught.value.problem["reason"])

        assert refused(xzsp, type="license.revoked") == (403, "unknown_event_type")
        assert refused(amr) == (403, "not_event_source")  # amr is the source of inspections, not licences
        assert refused(xzsp, routing={"business_scope": "食品"}) == (400, "invalid_event_payload")
        assert refused(xzsp, routing=FOOD | {"licence_type": 1}) == (400, "invalid_event_payload")
        # Copies for the wrong set of recipients: amr's copy only, for a food licence (fso is missing).
        shop = xzsp.recipients(type=LICENSE_ISSUED, subject=firm, routing=SHOP)
        event_id = f"evt-{uuid.uuid4().hex}"
        copies = xzsp.copies(
            event_id=event_id, type=LICENSE_ISSUED, subject=firm, routing=FOOD, payload=payload(FOOD),
            recipients=shop, published_at=datetime.now(UTC),
        )  # fmt: skip
        body = {
            "event_id": event_id,
            "type": LICENSE_ISSUED,
            "subject": firm,
            "routing": FOOD,
            "copies": copies,
        }
        response = client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {xzsp._auth}"})
        assert (response.status_code, response.json()["reason"]) == (409, "recipients_changed")
    assert audit(world, event_id) == [("event.refused", None)]


def test_an_event_published_before_the_subscriber_first_ran_is_still_told(world: World) -> None:
    received: list[ReceivedEvent] = []
    with gateway(world) as client:
        read = events_client(world, client, "xzsp").publish(
            type=LICENSE_ISSUED, subject_type="enterprise", subject_id=world.subjects.demo_enterprise,
            payload=payload(SHOP),
        )  # fmt: skip
        subscribe(world, client, "amr", received.append)  # a brand-new group: from the beginning
        wait_for(lambda: bool(received))
    assert [e.event_id for e in received] == [read["event_id"]]
