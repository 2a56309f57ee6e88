"""A participating department of a bundle (一件事) attacks the other steps: through prefill (naming
every role, reusing the handler's prefill_id) and through POST /v1/queries it gets nothing of another
step's materials; no source holding them is asked; every refusal is on the audit chain."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuyuan.app import app_state
from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import bearer, register_test_system
from tests.bundlekit import BUNDLE, INTAKE_ELEMENTS, ZJJ_STEP_ELEMENTS, bundle_item, prefill_body
from tests.exchange.conftest import as_department, query_body
from tests.sourcekit import serve

PREFILL = f"/v1/service-items/{BUNDLE}/prefill"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Embedded, TestClient]]:
    """The embedded exchange with the test bundle (zjj handles it; hrss has the insurance step)."""
    embedded = build_embedded(tmp_path)
    with TestClient(embedded.app) as client:
        key = register_test_system(
            app_state(client.app).engine,
            client_id="steward-sec",
            department="xzsp",
            scopes=["registry:read", "registry:write", "registry:steward"],
        )
        created = client.post(
            "/v1/service-items", json=bundle_item(), headers=bearer(client, key, "steward-sec")
        )
        assert created.status_code == 201, created.text
        yield embedded, client


def _audit(tmp_path: Path, where: str, *args: Any) -> list[sqlite3.Row]:
    with sqlite3.connect(tmp_path / "shuyuan.db") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(f"SELECT * FROM audit_entry WHERE {where} ORDER BY seq", args).fetchall()


def _plaintext(embedded: Embedded, tmp_path: Path, resident_id: str) -> list[str]:
    """What psb holds about the person: none of it may appear anywhere hrss can see."""
    with sqlite3.connect(tmp_path / "departments" / "psb.sqlite") as db:
        row = db.execute(
            "SELECT name, registered_address FROM hukou_person WHERE resident_id = ?", (resident_id,)
        ).fetchone()
    return list(row)


def test_the_insurance_step_cannot_prefill_the_housing_steps_materials(
    world: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    embedded, client = world
    psb = serve(embedded, "psb")
    people = {"applicant": embedded.subjects.demo_person, "spouse": embedded.subjects.all_persons[1]}
    # Naming every role does not widen what hrss may read: only its own step comes back.
    response = client.post(
        PREFILL,
        json=prefill_body(people, prefill_id="pf-sec-hrss-01"),
        headers=as_department(client, embedded, "hrss"),
    )
    assert response.status_code == 200, response.text
    assert [m["name"] for m in response.json()["materials"]] == ["参保证明"]
    assert psb == []  # the source of the housing step's elements is never asked for hrss
    assert not any(v in response.text for v in _plaintext(embedded, tmp_path, people["applicant"]))


def test_reusing_the_handlers_prefill_id_replays_nothing_of_the_handlers(
    world: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    embedded, client = world
    people = {"applicant": embedded.subjects.demo_person, "spouse": embedded.subjects.all_persons[1]}
    zjj = client.post(
        PREFILL,
        json=prefill_body(people, prefill_id="pf-sec-shared-1"),
        headers=as_department(client, embedded, "zjj"),
    )
    assert zjj.status_code == 200
    psb = serve(embedded, "psb")
    hrss = client.post(
        PREFILL,
        json=prefill_body(people, prefill_id="pf-sec-shared-1"),
        headers=as_department(client, embedded, "hrss"),
    )
    assert hrss.status_code == 200, hrss.text
    jwes = {e["jwe"] for m in zjj.json()["materials"] for e in m["elements"] if e["jwe"]}
    assert jwes and not any(j in hrss.text for j in jwes)  # idempotency is per consumer
    assert [m["name"] for m in hrss.json()["materials"]] == ["参保证明"] and psb == []


def test_the_insurance_step_asking_by_query_for_other_steps_elements_is_denied_and_audited(
    world: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    embedded, client = world
    psb = serve(embedded, "psb")
    person = embedded.subjects.demo_person
    body = query_body(person, [*ZJJ_STEP_ELEMENTS, *INTAKE_ELEMENTS], item=BUNDLE, query_id="q-sec-step-0001")
    response = client.post("/v1/queries", json=body, headers=as_department(client, embedded, "hrss"))
    assert response.status_code == 200, response.text
    assert [(r["status"], r["reason"], r["jwe"]) for r in response.json()["results"]] == [
        ("denied", "not_necessary_for_purpose", None)
    ] * 3
    assert psb == []
    decided = _audit(tmp_path, "request_id = ? AND action = 'element.decided'", "q-sec-step-0001")
    assert [(r["decision"], r["reason"], r["actor_department"]) for r in decided] == [
        ("deny", "not_necessary_for_purpose", "hrss")
    ] * 3
    assert not _audit(tmp_path, "request_id = ? AND action = 'source.dispatched'", "q-sec-step-0001")


def test_a_department_outside_the_bundle_gets_not_participant_audited(
    world: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    embedded, client = world
    psb, hrss = serve(embedded, "psb"), serve(embedded, "hrss")
    body = prefill_body({"applicant": embedded.subjects.demo_person}, prefill_id="pf-sec-xzsp-01")
    response = client.post(PREFILL, json=body, headers=as_department(client, embedded, "xzsp"))
    assert (response.status_code, response.json()["reason"]) == (403, "not_participant")
    assert psb == [] and hrss == []
    rows = _audit(tmp_path, "request_id = ?", "pf-sec-xzsp-01")
    assert [(r["action"], r["reason"], r["actor_system"]) for r in rows] == [
        ("query.refused", "not_participant", "xzsp-approval")
    ]


def test_moving_a_material_to_another_step_moves_who_may_read_it_at_once(
    world: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    embedded, client = world
    people = {"applicant": embedded.subjects.demo_person, "spouse": embedded.subjects.all_persons[1]}
    zjj = as_department(client, embedded, "zjj")
    first = client.post(PREFILL, json=prefill_body(people, prefill_id="pf-sec-move-01"), headers=zjj)
    assert "户口簿复印件" in [m["name"] for m in first.json()["materials"]]
    moved = bundle_item()
    moved["steps"][1]["materials"].append("户口簿复印件")  # from zjj's intake to hrss's step
    steward = bearer(
        client,
        register_test_system(app_state(client.app).engine, client_id="steward-sec", department="xzsp"),
        "steward-sec",
    )
    assert client.put(f"/v1/service-items/{BUNDLE}", json=moved, headers=steward).status_code == 200
    # The same prefill again would now ask less: not a replay of the stored answer but a conflict.
    again = client.post(PREFILL, json=prefill_body(people, prefill_id="pf-sec-move-01"), headers=zjj)
    assert (again.status_code, again.json()["reason"]) == (409, "conflict")
    fresh = client.post(PREFILL, json=prefill_body(people, prefill_id="pf-sec-move-02"), headers=zjj).json()
    assert "户口簿复印件" not in [m["name"] for m in fresh["materials"]]
    body = query_body(people["applicant"], INTAKE_ELEMENTS, item=BUNDLE)
    answer = client.post("/v1/queries", json=body, headers=zjj).json()
    assert answer["results"][0]["reason"] == "not_necessary_for_purpose"
    hrss = client.post(
        PREFILL,
        json=prefill_body({"applicant": people["applicant"]}, prefill_id="pf-sec-move-03"),
        headers=as_department(client, embedded, "hrss"),
    ).json()
    assert [m["name"] for m in hrss["materials"]] == ["参保证明", "户口簿复印件"]
