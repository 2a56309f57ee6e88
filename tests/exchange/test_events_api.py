"""Events (双告知) on the embedded exchange: the two-step publish, refusals with reason codes, the
deliveries' moves, idempotency, and what the gateway stores (no payload, no identifier)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from connectors.events import EventClient
from exchange.audit.models import AuditEntry
from exchange.events.models import Delivery
from exchange.events.redelivery import Redeliverer
from exchange.events.settings import EventsSettings
from protocol.clock import utcnow
from protocol.jose import JoseFailure
from shuyuan.embedded import Embedded
from shuyuan.sample_catalogue import LICENSE_ISSUED
from shuyuan.sample_systems import SYSTEMS
from tests.authkit import bearer

FOOD = {"business_scope": "食品销售;预包装食品", "licence_type": "food_business_licence"}
SHOP = {"business_scope": "日用百货零售", "licence_type": "business_licence"}


def payload(routing: dict[str, Any]) -> dict[str, Any]:
    """A license.issued payload with these routing fields."""
    fixed = {
        "licence_no": "JY13301000000001",
        "enterprise_name": "杭州某某食品有限公司",
        "issued_on": "2026-12-01",
    }
    return fixed | routing


def events_client(client: TestClient, embedded: Embedded, dept: str) -> EventClient:
    """A department's events SDK on the test client, with its sample system's token."""
    cid = next(c for c, code, _, _ in SYSTEMS if code == dept)
    token = bearer(client, embedded.system_keys[cid], cid)["Authorization"].removeprefix("Bearer ")
    return EventClient(client, keys=embedded.keys[dept], auth=token)


def actions(embedded: Embedded, event_id: str) -> list[tuple[str, str | None]]:
    """The audit records of one event: (action, recipient)."""
    with embedded.state.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.action, AuditEntry.source)
            .where(AuditEntry.request_id == f"event:{event_id}")
            .order_by(AuditEntry.seq)  # type: ignore[arg-type]
        ).all()
    return [(r.action, r.source) for r in rows]


def test_a_food_licence_goes_to_amr_and_the_food_safety_office_and_each_opens_its_own(
    client: TestClient, embedded: Embedded
) -> None:
    xzsp = events_client(client, embedded, "xzsp")
    firm = embedded.subjects.demo_enterprise
    read = xzsp.publish(
        type=LICENSE_ISSUED, subject_type="enterprise", subject_id=firm, routing=FOOD, payload=payload(FOOD)
    )
    assert [(d["recipient"], d["state"]) for d in read["deliveries"]] == [("amr", "sent"), ("fso", "sent")]
    assert set(embedded.transport.events) == {"amr", "fso"}
    for dept in ("amr", "fso"):
        value, headers = embedded.transport.events[dept][-1]
        receiver = events_client(client, embedded, dept)
        event = receiver.open(value, headers)
        assert (event.subject_id, event.payload["licence_no"], event.publisher) == (
            firm,
            "JY13301000000001",
            "xzsp",
        )
        assert receiver.delivered(event.delivery_id)["state"] == "delivered"
        assert receiver.ack(event.delivery_id)["state"] == "acknowledged"
        assert receiver.ack(event.delivery_id)["state"] == "acknowledged"  # idempotent
    # Neither can open the other's copy.
    amr_copy, amr_headers = embedded.transport.events["amr"][-1]
    with pytest.raises(JoseFailure) as refused:
        events_client(client, embedded, "fso").open(amr_copy, amr_headers)
    assert refused.value.code == "unknown_key"
    states = client.get(f"/v1/events/{read['event_id']}", headers=bearer_of(client, embedded, "xzsp")).json()
    assert [d["state"] for d in states["deliveries"]] == ["acknowledged", "acknowledged"]
    steps = actions(embedded, read["event_id"])
    assert steps.count(("event.routed", "amr")) == 1 and ("event.published", None) in steps
    assert {("event.delivered", "fso"), ("event.acknowledged", "amr")} <= set(steps)
    assert len([s for s in steps if s[0] == "event.acknowledged"]) == 2  # the second ack changed nothing


def bearer_of(client: TestClient, embedded: Embedded, dept: str) -> dict[str, str]:
    """Authorization headers of a department's sample system."""
    cid = next(c for c, code, _, _ in SYSTEMS if code == dept)
    return bearer(client, embedded.system_keys[cid], cid)


def test_a_shop_licence_goes_to_amr_only_and_the_gateway_stores_no_identifier(
    client: TestClient, embedded: Embedded
) -> None:
    xzsp = events_client(client, embedded, "xzsp")
    firm = embedded.subjects.demo_enterprise
    # No routing given: the SDK takes the type's routing fields from the payload.
    read = xzsp.publish(
        type=LICENSE_ISSUED, subject_type="enterprise", subject_id=firm, payload=payload(SHOP)
    )
    assert [d["recipient"] for d in read["deliveries"]] == ["amr"]
    stored = client.get(f"/v1/events/{read['event_id']}", headers=bearer_of(client, embedded, "xzsp")).json()
    assert stored["routing"] == SHOP
    dump = (embedded.state.engine.url.database or "").encode()
    with open(dump, "rb") as db:
        stored = db.read()
    # Neither the enterprise's identifier nor anything of the payload is in the gateway's database.
    assert firm.encode() not in stored and "杭州某某".encode() not in stored


def _publish_body(xzsp: EventClient, firm: str, routing: dict[str, Any], **extra: Any) -> dict[str, Any]:
    subject = {"type": "enterprise", "id": firm}
    recipients = xzsp.recipients(type=LICENSE_ISSUED, subject=subject, routing=routing)
    copies = xzsp.copies(
        event_id="evt-fixed-0001", type=LICENSE_ISSUED, subject=subject, routing=routing,
        payload=payload(routing), recipients=recipients, published_at=datetime.now(UTC),
    )  # fmt: skip
    body = {"event_id": "evt-fixed-0001", "type": LICENSE_ISSUED, "subject": subject, "routing": routing}
    return body | {"copies": copies} | extra


def test_refusals_have_reason_codes_and_are_audited(client: TestClient, embedded: Embedded) -> None:
    firm = embedded.subjects.demo_enterprise
    subject = {"type": "enterprise", "id": firm}
    xzsp = bearer_of(client, embedded, "xzsp")
    amr = bearer_of(client, embedded, "amr")

    def ask(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post("/v1/events/recipients", json=body, headers=headers)
        return response.status_code, response.json().get("reason")

    base = {"type": LICENSE_ISSUED, "subject": subject, "routing": FOOD}
    assert ask(base | {"type": "license.unknown"}, xzsp) == (403, "unknown_event_type")
    assert ask(base, amr) == (403, "not_event_source")
    assert ask(base | {"routing": {"business_scope": 7, "licence_type": "x"}}, xzsp) == (
        400,
        "invalid_event_payload",
    )
    assert ask(base | {"subject": {"type": "enterprise", "id": "91330100X"}}, xzsp) == (
        400,
        "invalid_subject_id",
    )
    # Copies for the wrong set of recipients: a shop licence's copies sent as a food licence's.
    client_x = events_client(client, embedded, "xzsp")
    body = _publish_body(client_x, firm, SHOP) | {"routing": FOOD}
    response = client.post("/v1/events", json=body, headers=xzsp)
    assert (response.status_code, response.json()["reason"]) == (409, "recipients_changed")
    refused = [a for a in actions(embedded, "evt-fixed-0001") if a[0] == "event.refused"]
    assert len(refused) == 1
    # Idempotent: the same body twice is one event; another body under the same id is a conflict.
    good = _publish_body(client_x, firm, FOOD)
    first = client.post("/v1/events", json=good, headers=xzsp)
    again = client.post("/v1/events", json=good, headers=xzsp)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    # A retry after a lost response re-seals the copies (encryption is randomised): still the same event.
    resealed = _publish_body(client_x, firm, FOOD)
    assert resealed["copies"] != good["copies"]
    retried = client.post("/v1/events", json=resealed, headers=xzsp)
    assert (retried.status_code, retried.json()) == (200, first.json())
    other = client.post(
        "/v1/events", json=good | {"routing": FOOD | {"licence_type": "business_licence"}}, headers=xzsp
    )
    assert (other.status_code, other.json()["reason"]) == (409, "conflict")
    # Only the publisher sees the event; only the recipient moves its delivery.
    assert client.get("/v1/events/evt-fixed-0001", headers=amr).status_code == 404
    delivery = first.json()["deliveries"][0]["id"]
    assert client.post(f"/v1/deliveries/{delivery}/ack", headers=xzsp).status_code == 404
    listed = client.get("/v1/deliveries", params={"state": "sent"}, headers=amr).json()
    assert [d["event_id"] for d in listed["items"]] == ["evt-fixed-0001"]


def test_unacknowledged_copies_are_redelivered_with_backoff_then_overdue_and_a_late_ack_still_counts(
    client: TestClient, embedded: Embedded
) -> None:
    xzsp = events_client(client, embedded, "xzsp")
    read = xzsp.publish(
        type=LICENSE_ISSUED,
        subject_type="enterprise",
        subject_id=embedded.subjects.demo_enterprise,
        routing=SHOP,
        payload=payload(SHOP),
    )
    (delivery,) = read["deliveries"]
    state = embedded.state
    client.portal.call(state.events.redeliverer.stop)  # the app's own task would race this test's
    redeliverer = Redeliverer(
        engine=state.engine,
        writer=state.audit_writer,
        transport=state.transport,
        gateway_id="gw-test",
        settings=EventsSettings(backoff_s=2.0, max_attempts=3),
    )
    table = Delivery.__table__  # type: ignore[attr-defined]

    def row() -> Any:
        with state.engine.connect() as conn:
            return conn.execute(select(table).where(table.c.id == delivery["id"])).one()

    def make_due() -> None:
        with state.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == delivery["id"]).values(next_attempt_at=utcnow()))

    first_due = row().next_attempt_at
    assert 1.5 < (first_due - row().updated_at).total_seconds() <= 2.0  # the first retry after backoff_s
    assert client.portal.call(redeliverer.run_once) == 0  # nothing due yet
    make_due()
    assert client.portal.call(redeliverer.run_once) == 1
    again = row()
    assert again.attempts == 2 and 3.5 < (again.next_attempt_at - again.updated_at).total_seconds() <= 4.0
    assert len(embedded.transport.events["amr"]) == 2  # the same copy, sent again
    assert embedded.transport.events["amr"][0] == embedded.transport.events["amr"][1]
    make_due()
    assert client.portal.call(redeliverer.run_once) == 1
    make_due()
    assert client.portal.call(redeliverer.run_once) == 0  # three copies sent: overdue instead
    assert (row().state, row().reason) == ("overdue", "not_acknowledged")
    steps = [a for a, _ in actions(embedded, read["event_id"])]
    assert steps.count("event.redelivered") == 2 and steps.count("event.overdue") == 1
    amr = events_client(client, embedded, "amr")
    assert amr.ack(delivery["id"])["state"] == "acknowledged"  # late, but recorded


def test_a_dead_letter_report_is_recorded_and_a_genuine_ack_still_wins(
    client: TestClient, embedded: Embedded
) -> None:
    xzsp = events_client(client, embedded, "xzsp")
    read = xzsp.publish(
        type=LICENSE_ISSUED,
        subject_type="enterprise",
        subject_id=embedded.subjects.demo_enterprise,
        payload=payload(SHOP),
    )
    (delivery,) = read["deliveries"]
    amr, headers = events_client(client, embedded, "amr"), bearer_of(client, embedded, "amr")
    assert amr.dead_lettered(delivery["id"], "invalid_signature")["state"] == "dead_lettered"
    one = client.get(f"/v1/deliveries/{delivery['id']}", headers=headers).json()
    assert (one["state"], one["reason"], one["routing"]) == ("dead_lettered", "invalid_signature", SHOP)
    assert (
        client.get(f"/v1/deliveries/{delivery['id']}", headers=bearer_of(client, embedded, "fso")).status_code
        == 404
    )
    # The genuine copy, verified after a forged one was dead-lettered under the same delivery id.
    assert (
        amr.delivered(delivery["id"])["state"] == "dead_lettered"
    )  # not a move from there: nothing recorded
    assert amr.ack(delivery["id"])["state"] == "acknowledged"
    steps = [a for a, _ in actions(embedded, read["event_id"])]
    assert steps.count("event.dead_lettered") == 1 and "event.delivered" not in steps
    assert steps[-1] == "event.acknowledged"
