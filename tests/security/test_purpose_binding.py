"""Purpose binds the department (issue 9, item 2) and replays are re-authorised (item 6), attacked
through the real app with real tokens (private_key_jwt).

- a department asks for data with a service item another department handles and it takes no part in:
  every element `denied/not_necessary_for_purpose`, no source is asked, the denial is on the chain
  with the calling system and the caseworker;
- a query without a caseworker (`on_behalf_of`) is refused (422) and audited;
- a replayed `query_id` whose stored answer the consumer may no longer receive is refused (403 with
  the reason) and audited; a stored answer past `SHUYUAN_QUERY_RECORD_TTL_S` is never replayed.
"""

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from exchange.queries.models import QueryRecord
from protocol.clock import utcnow
from protocol.envelope import SourceRequest
from shuyuan.app import app_state
from shuyuan.embedded import Embedded, build_embedded
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.authkit import bearer, now_iso, register_test_system
from tests.sourcekit import serve

ELEMENTS = ["person.name", "person.registered_address"]  # unconditional, psb, needed for housing
BORROWED = "TEST-PB-001"  # an item handled by xzsp, in which zjj takes part until a steward says not


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Embedded, TestClient]]:
    """The embedded exchange; the client sends no token by default (each test says who asks)."""
    embedded = build_embedded(tmp_path)
    with TestClient(embedded.app) as client:
        yield embedded, client


def _system(client: TestClient, embedded: Embedded, client_id: str) -> dict[str, str]:
    """Headers of a sample department system's real access token."""
    return bearer(client, embedded.system_keys[client_id], client_id)


def _steward(client: TestClient) -> dict[str, str]:
    scopes = ["registry:read", "registry:write", "registry:steward"]
    key = register_test_system(
        app_state(client.app).engine, client_id="steward-pb", department="xzsp", scopes=scopes
    )
    return bearer(client, key, "steward-pb")


def _body(embedded: Embedded, query_id: str, item: str = HOUSING_ITEM, **overrides: Any) -> dict[str, Any]:
    return {
        "query_id": query_id,
        "subject": {"type": "person", "id": embedded.subjects.demo_person},
        "elements": ELEMENTS,
        "purpose": {"service_item": item, "case_no": "PB-2026-0001"},
        "on_behalf_of": "li.si",
        "requested_at": now_iso(),
    } | overrides


def _audit(tmp_path: Path, where: str, *args: Any) -> list[sqlite3.Row]:
    with sqlite3.connect(tmp_path / "shuyuan.db") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(f"SELECT * FROM audit_entry WHERE {where} ORDER BY seq", args).fetchall()


def _psb_requests(embedded: Embedded) -> list[SourceRequest]:
    return serve(embedded, "psb")


def _item(participants: list[str]) -> dict[str, Any]:
    return {
        "code": BORROWED,
        "name": "测试：协办事项",
        "handling_department": "xzsp",
        "participants": participants,
        "materials": [{"name": "身份证复印件", "elements": ELEMENTS}],
    }


def test_borrowing_another_departments_service_item_gets_nothing_and_is_audited(
    world: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    embedded, client = world
    psb = _psb_requests(embedded)
    # 行政审批局 names 住建局's public-rental-housing item, which needs exactly these unconditional
    # elements: before the binding it got them.
    response = client.post(
        "/v1/queries",
        json=_body(embedded, "q-pb-borrow-01"),
        headers=_system(client, embedded, "xzsp-approval"),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["code"], r["status"], r["reason"], r["jwe"]) for r in results] == [
        (code, "denied", "not_necessary_for_purpose", None) for code in ELEMENTS
    ]
    assert psb == []  # no source was asked
    rows = _audit(tmp_path, "request_id = ?", "q-pb-borrow-01")
    actions = [r["action"] for r in rows]
    assert "source.dispatched" not in actions
    assert actions == ["query.received", "element.decided", "element.decided", "query.released"]
    decided = [r for r in rows if r["action"] == "element.decided"]
    assert [(r["decision"], r["reason"]) for r in decided] == [("deny", "not_necessary_for_purpose")] * 2
    # Every record names who asked: department, system (from the token) and caseworker, on the chain.
    assert {(r["actor_department"], r["actor_system"], r["actor_user"]) for r in rows} == {
        ("xzsp", "xzsp-approval", "li.si")
    }
    assert all(r["hash"] and r["prev_hash"] for r in rows)
    assert {(r["service_item"], r["case_no"]) for r in rows} == {(HOUSING_ITEM, "PB-2026-0001")}


def test_the_handler_and_a_participant_are_answered(
    world: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    embedded, client = world
    assert client.post("/v1/service-items", json=_item(["zjj"]), headers=_steward(client)).status_code == 201
    for client_id, query_id in (("xzsp-approval", "q-pb-handler-1"), ("zjj-housing", "q-pb-partic-1")):
        response = client.post(
            "/v1/queries",
            json=_body(embedded, query_id, item=BORROWED),
            headers=_system(client, embedded, client_id),
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "complete"
        dispatched = _audit(tmp_path, "request_id = ? AND action = 'source.dispatched'", query_id)
        assert [(r["actor_system"], r["actor_user"]) for r in dispatched] == [(client_id, "li.si")]


@pytest.mark.parametrize(
    "caseworker",
    [None, "", "李四", "li si", "a" * 65, "li/si"],
    ids=["missing", "empty", "not ascii", "space", "too long", "slash"],
)
def test_a_query_without_a_valid_caseworker_is_422_and_audited(
    world: tuple[Embedded, TestClient], tmp_path: Path, caseworker: str | None
) -> None:
    embedded, client = world
    body = _body(embedded, "q-pb-nobody-01", on_behalf_of=caseworker)
    if caseworker is None:
        del body["on_behalf_of"]
    before = len(_audit(tmp_path, "decision = 'deny'"))
    response = client.post("/v1/queries", json=body, headers=_system(client, embedded, "zjj-housing"))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["reason"] == "invalid_request"
    assert ["body", "on_behalf_of"] in [e["loc"] for e in problem["errors"]]
    denials = _audit(tmp_path, "decision = 'deny'")
    assert len(denials) == before + 1
    assert (denials[-1]["reason"], denials[-1]["actor_system"]) == ("invalid_request", "zjj-housing")


def test_a_replay_after_the_department_lost_the_right_is_refused_and_audited(
    world: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    embedded, client = world
    steward, zjj = _steward(client), _system(client, embedded, "zjj-housing")
    assert client.post("/v1/service-items", json=_item(["zjj"]), headers=steward).status_code == 201
    body = _body(embedded, "q-pb-replay-01", item=BORROWED)
    first = client.post("/v1/queries", json=body, headers=zjj)
    assert first.status_code == 200 and first.json()["status"] == "complete", first.text
    again = client.post("/v1/queries", json=body | {"requested_at": now_iso()}, headers=zjj)
    assert again.json() == first.json()  # while the right holds, the stored answer is replayed
    # The steward takes 住建局 off the item; the same query_id again must not hand out the stored answer.
    assert client.put(f"/v1/service-items/{BORROWED}", json=_item([]), headers=steward).status_code == 200
    psb = _psb_requests(embedded)
    refused = client.post("/v1/queries", json=body | {"requested_at": now_iso()}, headers=zjj)
    assert refused.status_code == 403, refused.text
    assert refused.json()["reason"] == "not_necessary_for_purpose"
    assert "jwe" not in refused.text and embedded.subjects.demo_person not in refused.text
    assert psb == []
    rows = _audit(tmp_path, "request_id = ?", "q-pb-replay-01")
    assert [r["action"] for r in rows][-2:] == ["query.replayed", "query.refused"]
    last = rows[-1]
    assert (last["decision"], last["reason"], last["actor_system"], last["actor_user"]) == (
        "deny",
        "not_necessary_for_purpose",
        "zjj-housing",
        "li.si",
    )
    assert last["elements"] is not None and "person.name" in last["elements"]
    # A new query (new id) is decided afresh, element by element.
    fresh = client.post("/v1/queries", json=_body(embedded, "q-pb-replay-02", item=BORROWED), headers=zjj)
    assert {r["reason"] for r in fresh.json()["results"]} == {"not_necessary_for_purpose"}


def _age_records(client: TestClient, by: timedelta) -> None:
    engine = app_state(client.app).engine
    with engine.begin() as conn:
        conn.execute(update(QueryRecord).values(created_at=utcnow() - by))


def test_an_expired_stored_answer_is_not_replayed_but_answered_afresh(
    world: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    embedded, client = world
    zjj = _system(client, embedded, "zjj-housing")
    body = _body(embedded, "q-pb-expired-1")
    assert client.post("/v1/queries", json=body, headers=zjj).status_code == 200
    _age_records(client, timedelta(hours=25))  # the default TTL is 24 h
    psb = _psb_requests(embedded)
    again = client.post("/v1/queries", json=body | {"requested_at": now_iso()}, headers=zjj)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "complete"
    assert len(psb) == 1  # the source was asked again: nothing was replayed
    actions = [r["action"] for r in _audit(tmp_path, "request_id = ?", "q-pb-expired-1")]
    assert "query.replayed" not in actions
    assert actions.count("query.released") == 2 and actions.count("source.dispatched") == 2
    # The fresh answer is the one stored now (a young record, replayed from here on).
    third = client.post("/v1/queries", json=body | {"requested_at": now_iso()}, headers=zjj)
    assert third.json() == again.json() and len(psb) == 1


def test_expired_records_are_purged(world: tuple[Embedded, TestClient], tmp_path: Path) -> None:
    embedded, client = world
    zjj = _system(client, embedded, "zjj-housing")
    for i in range(3):
        assert (
            client.post("/v1/queries", json=_body(embedded, f"q-pb-purge-{i:02d}"), headers=zjj).status_code
            == 200
        )
    _age_records(client, timedelta(hours=25))
    assert (
        client.post("/v1/queries", json=_body(embedded, "q-pb-purge-young"), headers=zjj).status_code == 200
    )
    service = app_state(client.app).query_service
    assert asyncio.run(service.purge_expired()) == 3
    with sqlite3.connect(tmp_path / "shuyuan.db") as conn:
        assert [r for (r,) in conn.execute("SELECT query_id FROM query_record")] == ["q-pb-purge-young"]
