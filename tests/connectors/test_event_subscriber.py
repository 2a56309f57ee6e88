"""The event subscriber's handling of one copy, with a fake gateway client and producer (no broker)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.client import GatewayError
from connectors.event_subscriber import EventSubscriber, HandledEvents
from connectors.events import ReceivedEvent
from protocol.jose import JoseFailure
from protocol.topics import DEFAULT

ROUTING = {"licence_type": "business_licence", "business_scope": "日用百货"}


def event(event_id: str = "evt-00000001") -> ReceivedEvent:
    """A verified event as EventClient.open returns it."""
    return ReceivedEvent(
        event_id=event_id, delivery_id="d" * 32, type="license.issued", publisher="xzsp",
        subject_type="enterprise", subject_id="91330100MA2XXXXX0X", routing=ROUTING, payload={},
        published_at=datetime.now(UTC), kid="k",
    )  # fmt: skip


@dataclass
class FakeClient:
    """Stands for EventClient: `opens` is what open returns or raises, `calls` what was reported."""

    opens: Any
    routing: dict[str, Any] = field(default_factory=lambda: dict(ROUTING))
    calls: list[tuple[str, str]] = field(default_factory=list)
    department: str = "amr"
    event_id: str = "evt-00000001"  # of the delivery, as the gateway knows it
    unknown: bool = False  # the gateway knows no such delivery

    def open(self, value: bytes, headers: Any) -> ReceivedEvent:
        if isinstance(self.opens, Exception):
            raise self.opens
        return self.opens  # type: ignore[no-any-return]

    def delivered(self, delivery_id: str) -> dict[str, Any]:
        self.calls.append(("delivered", delivery_id))
        if self.unknown:
            raise GatewayError(404, {"reason": "not_found"})
        return {"routing": self.routing, "event_id": self.event_id}

    def ack(self, delivery_id: str) -> dict[str, Any]:
        self.calls.append(("ack", delivery_id))
        return {}

    def dead_lettered(self, delivery_id: str, reason: str) -> dict[str, Any]:
        self.calls.append(("dead_lettered", reason))
        return {}


@dataclass
class FakeProducer:
    sent: list[tuple[str, list[tuple[str, bytes]]]] = field(default_factory=list)

    def send(self, topic: str, *, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.sent.append((topic, headers))


@dataclass
class Record:
    value: bytes = b"jwe"
    headers: list[tuple[str, bytes]] = field(default_factory=lambda: [("delivery-id", b"d" * 32)])
    topic: str = "shuyuan.evt.amr"
    partition: int = 0
    offset: int = 7


def run(client: FakeClient, handler: Any = None) -> tuple[EventSubscriber, FakeProducer, list[ReceivedEvent]]:
    handled: list[ReceivedEvent] = []
    subscriber = EventSubscriber(client, handler or handled.append, {}, names=DEFAULT)  # type: ignore[arg-type]
    producer = FakeProducer()
    subscriber._one(producer, Record())  # type: ignore[arg-type]
    return subscriber, producer, handled


def test_a_good_copy_is_reported_handled_acknowledged_and_a_duplicate_only_acknowledged() -> None:
    client = FakeClient(event())
    subscriber, producer, handled = run(client)
    assert [e.event_id for e in handled] == ["evt-00000001"]
    assert client.calls == [("delivered", "d" * 32), ("ack", "d" * 32)]
    subscriber._one(producer, Record())  # type: ignore[arg-type]
    assert len(handled) == 1 and client.calls[-1] == ("ack", "d" * 32) and producer.sent == []


def test_a_failing_handler_is_not_acknowledged_so_the_gateway_redelivers() -> None:
    def fail(_: ReceivedEvent) -> None:
        raise RuntimeError("busy")

    client = FakeClient(event())
    subscriber, producer, _ = run(client, fail)
    assert client.calls == [("delivered", "d" * 32)]
    assert "evt-00000001" not in subscriber.handled and producer.sent == []


def test_a_copy_that_fails_verification_is_dead_lettered_reported_and_never_handled() -> None:
    client = FakeClient(JoseFailure("invalid_signature", "forged"))
    subscriber, producer, handled = run(client)
    assert handled == [] and subscriber.dead_lettered == 1
    ((topic, headers),) = producer.sent
    assert topic == DEFAULT.dlq_topic
    assert ("dlq-reason", b"invalid_signature") in headers and ("dlq-by", b"amr") in headers
    assert client.calls == [("dead_lettered", "invalid_signature")]


def test_routing_the_gateway_routed_on_that_differs_from_the_signed_one_is_dead_lettered() -> None:
    client = FakeClient(event(), routing=ROUTING | {"licence_type": "food_business_licence"})
    _, producer, handled = run(client)
    assert handled == [] and ("dlq-reason", b"routing_mismatch") in producer.sent[0][1]


def test_a_copy_that_did_not_come_through_the_gateway_is_dead_lettered() -> None:
    # Signed by the real publisher, but put on the topic directly, or with another event's delivery id.
    for client, reason in (
        (FakeClient(event(), unknown=True), b"unknown_delivery"),
        (FakeClient(event(), event_id="evt-other1"), b"wrong_binding"),
    ):
        _, producer, handled = run(client)
        assert handled == [] and ("dlq-reason", reason) in producer.sent[0][1]


def test_a_registry_that_did_not_answer_says_nothing_against_the_copy() -> None:
    client = FakeClient(JoseFailure("registry_unavailable", "503"))
    subscriber, producer, handled = run(client)
    assert (handled, producer.sent, client.calls, subscriber.dead_lettered) == ([], [], [], 0)


def test_handled_ids_are_bounded() -> None:
    seen = HandledEvents(capacity=2)
    for i in range(3):
        seen.add(f"e{i}")
    assert "e0" not in seen and "e1" in seen and "e2" in seen
