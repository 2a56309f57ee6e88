"""The stewards' view of failed deliveries: the dead letters' list, and a steward's audited redelivery."""

import functools
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from exchange.audit.models import AuditEntry
from exchange.events.board import dead_letters
from exchange.events.models import Delivery
from exchange.events.steward import STEWARD_REDELIVERY, redeliver
from protocol.errors import Conflict, NotFound
from registry.pagination import PageParams
from shuyuan.embedded import Embedded
from shuyuan.sample_catalogue import LICENSE_ISSUED
from tests.authkit import bearer, register_test_system
from tests.exchange.test_events_api import FOOD, SHOP, bearer_of, events_client, payload

DL = Delivery.__table__  # type: ignore[attr-defined]


def _publish(client: TestClient, embedded: Embedded, routing: dict[str, Any]) -> dict[str, Any]:
    xzsp = events_client(client, embedded, "xzsp")
    subject = embedded.subjects.demo_enterprise
    read: dict[str, Any] = xzsp.publish(
        type=LICENSE_ISSUED,
        subject_type="enterprise",
        subject_id=subject,
        routing=routing,
        payload=payload(routing),
    )
    return read


def _redeliver(client: TestClient, embedded: Embedded, delivery_id: str) -> Any:
    call = functools.partial(
        redeliver, embedded.state, delivery_id=delivery_id, department="console", system="console:steward"
    )
    return client.portal.call(call)


def _steps(embedded: Embedded, event_id: str) -> list[tuple[str, str | None, str | None, str | None]]:
    with embedded.state.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.action, AuditEntry.actor_system, AuditEntry.source, AuditEntry.reason)
            .where(AuditEntry.request_id == f"event:{event_id}")
            .order_by(AuditEntry.seq)  # type: ignore[arg-type]
        ).all()
    return [tuple(r) for r in rows]


def test_a_dead_letter_is_listed_redelivered_by_a_steward_audited_and_then_acknowledged(
    client: TestClient, embedded: Embedded
) -> None:
    client.portal.call(embedded.state.events.redeliverer.stop)  # the app's own task would race this test's
    read = _publish(client, embedded, SHOP)
    (delivery,) = read["deliveries"]
    amr = events_client(client, embedded, "amr")
    amr.dead_lettered(delivery["id"], "unknown_key")
    engine = embedded.state.engine
    rows, total = dead_letters(engine=engine, page=PageParams(limit=10, offset=0))
    assert total == 1 and [(r.id, r.type, r.publisher, r.recipient, r.reason) for r in rows] == [
        (delivery["id"], LICENSE_ISSUED, "xzsp", "amr", "unknown_key")
    ]
    assert "copy_jwe" not in rows[0]._fields and "subject_index" not in rows[0]._fields
    sent_before = len(embedded.transport.events["amr"])

    again = _redeliver(client, embedded, delivery["id"])

    assert (again.state, again.attempts, again.reason) == ("sent", 1, None)
    assert len(embedded.transport.events["amr"]) == sent_before + 1
    assert embedded.transport.events["amr"][-1] == embedded.transport.events["amr"][0]  # the stored copy
    assert dead_letters(engine=engine, page=PageParams(limit=10, offset=0))[1] == 0
    assert _steps(embedded, read["event_id"])[-1] == (
        "event.redelivered",
        "console:steward",
        "amr",
        STEWARD_REDELIVERY,
    )
    assert amr.ack(delivery["id"])["state"] == "acknowledged"
    with pytest.raises(Conflict) as refused:
        _redeliver(client, embedded, delivery["id"])
    assert refused.value.reason == "invalid_transition"
    assert [s[0] for s in _steps(embedded, read["event_id"])].count("event.redelivered") == 1
    with pytest.raises(NotFound):
        _redeliver(client, embedded, "0" * 32)


def test_overdue_deliveries_are_listed_apart_filtered_and_redelivered_too(
    client: TestClient, embedded: Embedded
) -> None:
    client.portal.call(embedded.state.events.redeliverer.stop)
    food = _publish(client, embedded, FOOD)  # to amr and fso
    shop = _publish(client, embedded, SHOP)  # to amr only
    engine = embedded.state.engine
    with engine.begin() as conn:
        conn.execute(update(DL).values(state="overdue", reason="not_acknowledged", next_attempt_at=None))
    page = PageParams(limit=10, offset=0)
    assert dead_letters(engine=engine, page=page)[1] == 0  # none dead-lettered
    assert dead_letters(engine=engine, page=page, state="overdue")[1] == 3
    to_amr, n = dead_letters(engine=engine, page=page, state="overdue", recipient="amr")
    assert n == 2 and {r.event_id for r in to_amr} == {food["event_id"], shop["event_id"]}
    assert dead_letters(engine=engine, page=page, state="overdue", publisher="amr")[1] == 0
    assert dead_letters(engine=engine, page=page, state="overdue", event_type="license.revoked")[1] == 0
    one, n = dead_letters(engine=engine, page=PageParams(limit=1, offset=2), state="overdue")
    assert n == 3 and len(one) == 1
    fso = next(d for d in food["deliveries"] if d["recipient"] == "fso")
    assert _redeliver(client, embedded, fso["id"]).state == "sent"
    assert dead_letters(engine=engine, page=page, state="overdue")[1] == 2


def test_the_api_redelivers_for_a_data_stewards_system_only(client: TestClient, embedded: Embedded) -> None:
    client.portal.call(embedded.state.events.redeliverer.stop)
    read = _publish(client, embedded, SHOP)
    (delivery,) = read["deliveries"]
    events_client(client, embedded, "amr").dead_lettered(delivery["id"], "unknown_key")
    path = f"/v1/deliveries/{delivery['id']}/redeliver"
    for dept in ("amr", "xzsp"):  # neither the recipient nor the publisher decides this
        refused = client.post(path, headers=bearer_of(client, embedded, dept))
        assert (refused.status_code, refused.json()["reason"]) == (403, "forbidden")
    key = register_test_system(
        embedded.state.engine,
        client_id="steward-events",
        department="xzsp",
        scopes=["events", "registry:read", "registry:steward"],
    )
    steward = bearer(client, key, "steward-events")
    done = client.post(path, headers=steward)
    assert done.status_code == 200 and (done.json()["state"], done.json()["attempts"]) == ("sent", 1)
    assert _steps(embedded, read["event_id"])[-1] == (
        "event.redelivered",
        "steward-events",
        "amr",
        STEWARD_REDELIVERY,
    )
    again = client.post(path, headers=steward)
    assert (again.status_code, again.json()["reason"]) == (409, "invalid_transition")
    missing = client.post(f"/v1/deliveries/{'0' * 32}/redeliver", headers=steward)
    assert (missing.status_code, missing.json()["reason"]) == (404, "not_found")
