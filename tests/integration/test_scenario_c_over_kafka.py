"""SCENARIO C over the real broker and database: a caseworker contests a property record, the
real-estate registry fixes it, and the department that received the old value is told (correction
recall) by its own subscriber, and nobody else.

The housing bureau (zjj) receives the applicant's property records (不动产登记中心 bdc, conditional,
under its agreement for public rental housing) through the real bdc connector, twice; the approval
bureau (xzsp) asks for the same element for sole-trader registration and is refused
(`not_necessary_for_purpose`). zjj files a correction; while it is open zjj's answer says `disputed`;
bdc fixes it; zjj's subscriber gets a recall naming both its queries, verified against the gateway's
pinned keys, and acknowledges it; xzsp, which never received the value, is not told; a re-query
carries no flag any more; the audit chain holds every step.
"""

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from connectors.client import ConsumerClient, QueryAnswer
from connectors.event_subscriber import EventSubscriber
from connectors.events import ReceivedEvent
from exchange.audit.models import AuditEntry
from exchange.audit.settings import AuditSettings
from protocol.recall import PLATFORM_PUBLISHER, RECALL_TYPE, recall_event_id
from shuyuan.sample_catalogue import HOUSING_ITEM, SOLE_TRADER_ITEM
from tests.integration.conftest import World

pytestmark = pytest.mark.integration

# The contested value and its source (SCENARIOS.md C: the property record, 不动产登记中心).
ELEMENT, SOURCE = "person.property_records", "bdc"


def subscribe(world: World, client: TestClient, code: str, handler: Callable[[ReceivedEvent], None]) -> None:
    """Run a department's event subscriber (the connector SDK's) until the test ends."""
    subscriber = EventSubscriber(
        world.events(client, code),
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


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until `check()` holds (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.05)


def ask(consumer: ConsumerClient, person: str, item: str, *, status: str = "complete") -> QueryAnswer:
    """One real query of the contested element (over Kafka, through the source's connector)."""
    answer = consumer.query(
        subject_type="person",
        subject_id=person,
        elements=[ELEMENT],
        service_item=item,
        case_no=f"C-{uuid.uuid4().hex[:8]}",
        on_behalf_of="caseworker-07",
    )
    assert answer.status == status, answer.as_dict()
    return answer


def move(client: TestClient, token: str, cid: str, to: str, **extra: Any) -> dict[str, Any]:
    """A correction's move by the holder of `token`."""
    response = client.post(
        f"/v1/corrections/{cid}/transitions",
        json={"to": to, **extra},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def actions(world: World, request_id: str) -> list[tuple[str, str | None]]:
    """(action, source/recipient) of the audit records of one request id."""
    engine = create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(AuditEntry.action, AuditEntry.source)
                .where(AuditEntry.request_id == request_id)  # type: ignore[arg-type]
                .order_by(AuditEntry.seq)  # type: ignore[arg-type]
            ).all()
    finally:
        engine.dispose()
    return [(r.action, r.source) for r in rows]


def test_scenario_c_a_contested_value_is_fixed_and_every_earlier_receiver_is_told(world: World) -> None:
    person = world.subjects.contested_owner
    told: dict[str, list[ReceivedEvent]] = {"zjj": [], "xzsp": []}
    with TestClient(world.gateway(audit=AuditSettings(path="direct"))) as client:
        world.start_connector(SOURCE)
        for dept in told:
            subscribe(world, client, dept, told[dept].append)
        zjj, xzsp = world.consumer(client), world.consumer(client, "xzsp", "xzsp-approval")
        zjj_first, zjj_again = ask(zjj, person, HOUSING_ITEM), ask(zjj, person, HOUSING_ITEM)
        # The record lists the flat the applicant sold last year: the value the caseworker contests.
        [record] = zjj_first.results
        assert len(record.value) >= 2 and all(p["certificate_no"] for p in record.value), record.value
        # The same element for another purpose: refused, so xzsp never holds the value.
        [refused] = ask(xzsp, person, SOLE_TRADER_ITEM, status="partial").results
        assert (refused.status, refused.reason) == ("denied", "not_necessary_for_purpose")

        # The caseworker contests the value it received (SCENARIOS.md C).
        zjj_token = world.system_token(client, "zjj")
        filed = client.post(
            "/v1/corrections",
            json={
                "element": ELEMENT,
                "subject": {"type": "person", "id": person},
                "query_id": zjj_first.query_id,
                "problem": "申请人去年已出售该房产,登记记录未更新",
                "evidence_ref": "ZJJ-GZF-2026-0042/附件2",
            },
            headers={"Authorization": f"Bearer {zjj_token}"},
        )
        assert filed.status_code == 201, filed.text
        cid = filed.json()["id"]
        assert filed.json()["source"] == world.dept(SOURCE)
        # While it is open, every answer of the value says so.
        flagged_query = ask(zjj, person, HOUSING_ITEM)
        [flagged] = flagged_query.results
        assert (flagged.disputed, flagged.correction_id) == (True, cid)

        source_token = world.system_token(client, SOURCE)
        move(client, source_token, cid, "accepted")
        fixed = move(client, source_token, cid, "fixed", reason="已按交易登记更正")
        assert fixed["state"] == "fixed" and not fixed["open"]
        wait_for(lambda: bool(told["zjj"]))
        recall = client.post(
            f"/v1/corrections/{cid}/recall", headers={"Authorization": f"Bearer {source_token}"}
        )
        assert recall.status_code == 200, recall.text
        wait_for(
            lambda: (
                [
                    (d["recipient"], d["state"])
                    for d in client.post(
                        f"/v1/corrections/{cid}/recall", headers={"Authorization": f"Bearer {source_token}"}
                    ).json()["deliveries"]
                ]
                == [(world.dept("zjj"), "acknowledged")]
            )
        )
        # The flag is gone from the very next answer.
        [after] = ask(zjj, person, HOUSING_ITEM).results
        assert not after.disputed

    # zjj is told once, by the exchange, of its own queries (the flagged one included); xzsp is not.
    [event] = told["zjj"]
    assert told["xzsp"] == []
    assert (event.type, event.publisher, event.event_id) == (
        RECALL_TYPE,
        PLATFORM_PUBLISHER,
        recall_event_id(cid),
    )
    assert (event.subject_id, event.payload["element"], event.payload["correction_id"]) == (
        person,
        ELEMENT,
        cid,
    )
    assert event.payload["source"] == world.dept(SOURCE)
    assert event.payload["query_ids"] == sorted(
        [zjj_first.query_id, zjj_again.query_id, flagged_query.query_id]
    )
    steps = actions(world, f"event:{recall_event_id(cid)}")
    assert steps[0] == ("event.published", None)
    for action in ("event.routed", "event.delivered", "event.acknowledged"):
        assert (action, world.dept("zjj")) in steps
        assert (action, world.dept("xzsp")) not in steps
    assert [a for a, _ in actions(world, f"correction:{cid}")] == [
        "correction.filed",
        "correction.accepted",
        "correction.fixed",
    ]
