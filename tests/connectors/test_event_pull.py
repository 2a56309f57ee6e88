"""Pulling events over HTTP (no broker): the embedded exchange's copies reach the recipients' handlers
through the same checks as the Kafka subscriber; acknowledged once; a failing handler is retried with
backoff; a copy the recipient cannot open is dead-lettered, never handled."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from connectors.event_pull import EventPuller
from connectors.events import EventClient, ReceivedEvent
from exchange.events.models import Delivery
from shuyuan.embedded import Embedded
from shuyuan.sample_catalogue import LICENSE_ISSUED
from shuyuan.sample_systems import SYSTEMS
from tests.authkit import bearer

FOOD = {"business_scope": "食品销售;预包装食品", "licence_type": "food_business_licence"}


def events_client(client: TestClient, embedded: Embedded, dept: str) -> EventClient:
    """A department's events SDK on the test client, pinning the gateway's keys."""
    cid = next(c for c, code, _, _ in SYSTEMS if code == dept)
    token = bearer(client, embedded.system_keys[cid], cid)["Authorization"].removeprefix("Bearer ")
    return EventClient(
        client, keys=embedded.keys[dept], auth=token, gateway_keys=embedded.state.request_signer.public_keys()
    )


def publish(client: TestClient, embedded: Embedded) -> dict[str, Any]:
    """xzsp publishes a food business's licence (to amr and fso)."""
    payload = {
        "licence_no": "JY13301000000007",
        "enterprise_name": "杭州某某食品有限公司",
        "issued_on": "2026-12-01",
    }
    return events_client(client, embedded, "xzsp").publish(
        type=LICENSE_ISSUED,
        subject_type="enterprise",
        subject_id=embedded.subjects.demo_enterprise,
        routing=FOOD,
        payload=payload | FOOD,
    )


def test_each_recipient_pulls_its_copy_handles_it_once_and_acknowledges_it(
    client: TestClient, embedded: Embedded
) -> None:
    read = publish(client, embedded)
    for dept in ("amr", "fso"):
        got: list[ReceivedEvent] = []
        puller = EventPuller(events_client(client, embedded, dept), got.append)
        assert puller.pull_once() == {"handled": 1}
        [event] = got
        assert (event.event_id, event.subject_id) == (read["event_id"], embedded.subjects.demo_enterprise)
        assert puller.pull_once() == {}  # acknowledged: not listed again
    publisher = events_client(client, embedded, "xzsp")
    states = [d["state"] for d in publisher._ok("GET", f"/v1/events/{read['event_id']}")["deliveries"]]
    assert states == ["acknowledged", "acknowledged"]


def test_a_failing_handler_is_retried_after_a_backoff_and_then_handled(
    client: TestClient, embedded: Embedded
) -> None:
    publish(client, embedded)
    calls: list[str] = []

    def flaky(event: ReceivedEvent) -> None:
        calls.append(event.event_id)
        if len(calls) == 1:
            raise RuntimeError("the application's database is busy")

    puller = EventPuller(events_client(client, embedded, "amr"), flaky)
    assert puller.pull_once() == {"retry": 1}
    assert puller.pull_once() == {}  # inside its backoff: not tried again at once
    puller._retry_at = {k: (0.0, n) for k, (_, n) in puller._retry_at.items()}  # the backoff has passed
    assert puller.pull_once() == {"handled": 1}
    assert len(calls) == 2


def test_a_copy_the_recipient_cannot_open_is_dead_lettered_never_handled(
    client: TestClient, embedded: Embedded
) -> None:
    read = publish(client, embedded)
    with embedded.state.engine.begin() as conn:  # a gateway operator swaps amr's copy for fso's
        fso_copy = (
            conn.execute(
                Delivery.__table__.select().where(Delivery.recipient == "fso")  # type: ignore[attr-defined]
            )
            .one()
            .copy_jwe
        )
        conn.execute(
            update(Delivery).where(Delivery.recipient == "amr").values(copy_jwe=fso_copy)  # type: ignore[arg-type]
        )
    got: list[ReceivedEvent] = []
    puller = EventPuller(events_client(client, embedded, "amr"), got.append)
    assert puller.pull_once() == {"refused": 1}
    assert got == [] and puller.refused == 1
    amr = events_client(client, embedded, "amr")
    [delivery] = amr.deliveries(state="dead_lettered")["items"]
    assert (delivery["event_id"], delivery["reason"]) == (read["event_id"], "unknown_key")


def test_another_department_cannot_pull_a_copy_not_its_own(client: TestClient, embedded: Embedded) -> None:
    read = publish(client, embedded)
    amr_delivery = next(d["id"] for d in read["deliveries"] if d["recipient"] == "amr")
    psb = events_client(client, embedded, "psb")
    response = psb._request("GET", f"/v1/deliveries/{amr_delivery}/copy")
    assert (response.status_code, response.json()["reason"]) == (404, "not_found")
