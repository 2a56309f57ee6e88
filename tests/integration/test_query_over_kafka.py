"""The query flow over the real broker and the real database."""

import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from connectors.client import QueryAnswer
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.integration.conftest import World

pytestmark = pytest.mark.integration

ELEMENTS = ["person.name", "person.household_members", "person.si_contribution_base"]


def _query(world: World, subject: str, elements: list[str], consumer: str = "zjj") -> tuple[dict, str]:
    body = {
        "query_id": f"it-{uuid.uuid4().hex}",
        "subject": {"type": "person", "id": subject},
        "elements": elements,
        "purpose": {"service_item": HOUSING_ITEM, "case_no": "ZJJ-2026-IT-001"},
        "on_behalf_of": "wang.fang",
        "requested_at": datetime.now(UTC).isoformat(),
    }
    return body, world.dept(consumer)


def _ask(client: TestClient, world: World, subject: str, elements: list[str]) -> QueryAnswer:
    """Query as zjj through the consumer SDK: answers decrypted and their signatures verified."""
    return world.consumer(client).query(
        subject_type="person",
        subject_id=subject,
        elements=elements,
        service_item=HOUSING_ITEM,
        case_no="ZJJ-2026-IT-001",
        on_behalf_of="wang.fang",
    )


def _row(db: Path, sql: str, subject: str) -> tuple:
    with sqlite3.connect(db) as conn:
        row = conn.execute(sql, (subject,)).fetchone()
    assert row is not None
    return row


def test_two_sources_answer_one_query(world: World) -> None:
    world.start_connector("psb")
    world.start_connector("hrss")
    person = world.subjects.demo_person
    with TestClient(world.gateway()) as client:
        answer = _ask(client, world, person, ELEMENTS)
    assert answer.status == "complete"
    by_code = {r.code: r.as_dict() for r in answer.results}
    assert [r.code for r in answer.results] == ELEMENTS
    (name,) = _row(
        world.data_dir / "psb.sqlite", "SELECT name FROM hukou_person WHERE resident_id = ?", person
    )
    (base,) = _row(
        world.data_dir / "hrss.sqlite",
        "SELECT contribution_base FROM si_insured WHERE resident_id = ?",
        person,
    )
    assert by_code["person.name"] == {
        "code": "person.name",
        "status": "ok",
        "reason": None,
        "source": world.dept("psb"),
        "value": name,
    }
    assert by_code["person.si_contribution_base"]["value"] == pytest.approx(float(base))
    assert by_code["person.si_contribution_base"]["source"] == world.dept("hrss")
    members = by_code["person.household_members"]["value"]
    assert name in [m["name"] for m in members] and len(members) >= 3


def test_silent_source_times_out_while_the_other_answers(world: World) -> None:
    world.start_connector("psb")  # hrss has no connector running: its requests are never answered
    with TestClient(world.gateway(source_timeout_s=1.5)) as client:
        consumer = world.consumer(client)
        started = time.monotonic()
        answer = consumer.query(
            subject_type="person",
            subject_id=world.subjects.demo_person,
            elements=ELEMENTS,
            service_item=HOUSING_ITEM,
            case_no="ZJJ-2026-IT-001",
            on_behalf_of="wang.fang",
        )
        elapsed = time.monotonic() - started
    assert answer.status == "partial"
    results = {r.code: r.as_dict() for r in answer.results}
    assert results["person.name"]["status"] == "ok"
    assert results["person.household_members"]["status"] == "ok"
    assert results["person.si_contribution_base"] == {
        "code": "person.si_contribution_base",
        "status": "unavailable",
        "reason": "source_timeout",
        "source": world.dept("hrss"),
        "value": None,
    }
    assert 1.5 <= elapsed < 5, elapsed


def test_unknown_subject_is_not_found_at_the_source(world: World) -> None:
    world.start_connector("psb")
    world.start_connector("hrss")
    with TestClient(world.gateway()) as client:
        answer = _ask(client, world, world.subjects.person_only_in_psb, ["person.name", "person.si_status"])
    results = {r.code: r.as_dict() for r in answer.results}
    assert results["person.name"]["status"] == "ok"
    assert results["person.si_status"]["status"] == "not_found"
    assert results["person.si_status"]["reason"] == "not_found"


def test_two_gateway_instances_share_the_reply_topic(world: World) -> None:
    """Each instance reads only its own reply partition, so concurrent instances both get answers."""
    world.start_connector("psb")
    world.start_connector("hrss")
    results: dict[int, list[int]] = {0: [], 1: []}
    with (
        TestClient(world.gateway(reply_partition=0, gateway_id="gw-a")) as a,
        TestClient(world.gateway(reply_partition=1, gateway_id="gw-b")) as b,
    ):

        def fire(index: int, client: TestClient) -> None:
            consumer = world.consumer(client)
            for _ in range(10):
                body, _ = _query(world, world.subjects.demo_person, ELEMENTS)
                r = consumer.send(body)
                opened = consumer.open(r.json(), subject_type="person", subject_id=world.subjects.demo_person)
                results[index].append(r.status_code if opened.status == "complete" else -1)

        threads = [threading.Thread(target=fire, args=(i, c)) for i, c in ((0, a), (1, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert results == {0: [200] * 10, 1: [200] * 10}


def test_idempotent_query_id_on_postgres(world: World) -> None:
    world.start_connector("psb")
    world.start_connector("hrss")
    body, _ = _query(world, world.subjects.demo_person, ELEMENTS)
    with TestClient(world.gateway()) as client:
        consumer = world.consumer(client)
        first = consumer.send(body)
        again = consumer.send(body)
        changed = consumer.send(body | {"elements": ["person.name"]})
        opened = consumer.open(again.json(), subject_type="person", subject_id=world.subjects.demo_person)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()  # the stored answer: the same ciphertexts, still decryptable
    assert opened.status == "complete"
    assert changed.status_code == 409
    assert changed.json()["reason"] == "conflict"
