"""Prefill (一件事一次办) on the embedded exchange: one call, one ordinary query per (role, source);
each department of a bundle gets only its own step's materials; refusals with their reason codes."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.client import ConsumerClient
from exchange.settings import GatewaySettings
from shuyuan.app import app_state
from shuyuan.embedded import Embedded, build_embedded
from shuyuan.sample_catalogue import ELEMENTS, SERVICE_ITEMS
from tests.authkit import bearer, register_test_system
from tests.bundlekit import BUNDLE, HRSS_STEP_ELEMENTS, bundle_item, prefill_body
from tests.exchange.conftest import as_department, query_body
from tests.sourcekit import serve

PREFILL = f"/v1/service-items/{BUNDLE}/prefill"


def _steward(client: TestClient) -> dict[str, str]:
    scopes = ["registry:read", "registry:write", "registry:steward"]
    key = register_test_system(
        app_state(client.app).engine, client_id="steward-pf", department="xzsp", scopes=scopes
    )
    return bearer(client, key, "steward-pf")


@pytest.fixture
def bundle(client: TestClient) -> str:
    """The test bundle (zjj handles it, hrss has a step), registered by a steward."""
    created = client.post("/v1/service-items", json=bundle_item(), headers=_steward(client))
    assert created.status_code == 201, created.text
    return BUNDLE


def _people(embedded: Embedded) -> dict[str, str]:
    return {"applicant": embedded.subjects.demo_person, "spouse": embedded.subjects.all_persons[1]}


def _audit(tmp_path: Path, where: str, *args: Any) -> list[sqlite3.Row]:
    with sqlite3.connect(tmp_path / "shuyuan.db") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(f"SELECT * FROM audit_entry WHERE {where} ORDER BY seq", args).fetchall()


def test_the_handler_gets_its_steps_and_intake_materials_in_one_call(
    client: TestClient, embedded: Embedded, bundle: str, tmp_path: Path
) -> None:
    psb, hrss = serve(embedded, "psb"), serve(embedded, "hrss")
    response = client.post(
        PREFILL, json=prefill_body(_people(embedded)), headers=as_department(client, embedded, "zjj")
    )
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["prefill_id"], out["service_item"], out["status"]) == ("pf-2026-000001", BUNDLE, "partial")
    assert [(m["name"], m["subject_role"], m["step"], m["status"]) for m in out["materials"]] == [
        ("申请人身份证复印件", "applicant", "housing", "supplied"),
        ("配偶身份证复印件", "spouse", "housing", "supplied"),
        ("结婚证原件", "applicant", "housing", "must_bring"),  # no element replaces it
        ("户口簿复印件", "applicant", None, "supplied"),  # the handler's intake
    ]  # 参保证明 is hrss's step: not even listed
    assert out["to_bring"] == ["结婚证原件"]
    assert [(q["query_id"], q["subject_role"], q["source"], q["elements"]) for q in out["queries"]] == [
        (
            "pf-2026-000001.0.psb",
            "applicant",
            "psb",
            ["person.name", "person.registered_address", "person.household_members"],
        ),
        ("pf-2026-000001.1.psb", "spouse", "psb", ["person.name"]),
    ]
    element = out["materials"][0]["elements"][0]
    assert (element["code"], element["status"], element["query_id"]) == (
        "person.name",
        "ok",
        "pf-2026-000001.0.psb",
    )
    assert element["jwe"] and not any(p in response.text for p in _people(embedded).values())
    # One request per (role, source), at once; hrss is never asked for zjj.
    assert len(psb) == 2 and hrss == []
    # Each is an ordinary query on the chain: decided, dispatched, released.
    for qid in ("pf-2026-000001.0.psb", "pf-2026-000001.1.psb"):
        actions = [r["action"] for r in _audit(tmp_path, "request_id = ?", qid)]
        assert actions[0] == "query.received" and actions[-1] == "query.released"
        assert "source.dispatched" in actions
    # The values are the spouse's and the applicant's: opened as the SDK does.
    sdk = ConsumerClient(client, keys=embedded.keys["zjj"])
    spouse_name = out["materials"][1]["elements"][0]
    opened = sdk.open(
        {"query_id": spouse_name["query_id"], "results": [spouse_name]},
        subject_type="person",
        subject_id=_people(embedded)["spouse"],
    )
    assert opened.results[0].status == "ok" and opened.results[0].value


def test_a_step_department_gets_only_its_own_step(
    client: TestClient, embedded: Embedded, bundle: str
) -> None:
    psb, hrss = serve(embedded, "psb"), serve(embedded, "hrss")
    # Only the applicant: the spouse's material is not hrss's, so no spouse is needed.
    body = prefill_body({"applicant": embedded.subjects.demo_person}, prefill_id="pf-hrss-000001")
    response = client.post(PREFILL, json=body, headers=as_department(client, embedded, "hrss"))
    assert response.status_code == 200, response.text
    out = response.json()
    assert [(m["name"], m["status"]) for m in out["materials"]] == [("参保证明", "supplied")]
    assert [e["code"] for e in out["materials"][0]["elements"]] == HRSS_STEP_ELEMENTS
    assert (out["status"], out["to_bring"]) == ("complete", [])
    assert [q["query_id"] for q in out["queries"]] == ["pf-hrss-000001.0.hrss"]
    assert psb == [] and len(hrss) == 1


def test_a_department_taking_no_part_gets_not_participant_and_the_refusal_is_audited(
    client: TestClient, embedded: Embedded, bundle: str, tmp_path: Path
) -> None:
    psb = serve(embedded, "psb")
    body = prefill_body(_people(embedded), prefill_id="pf-xzsp-000001")
    response = client.post(PREFILL, json=body, headers=as_department(client, embedded, "xzsp"))
    assert response.status_code == 403, response.text
    assert response.json()["reason"] == "not_participant"
    assert psb == []
    refused = _audit(tmp_path, "request_id = ?", "pf-xzsp-000001")
    assert [(r["action"], r["decision"], r["reason"], r["actor_department"]) for r in refused] == [
        ("query.refused", "deny", "not_participant", "xzsp")
    ] * 2  # one per subject named, so each citizen sees it
    assert {r["service_item"] for r in refused} == {BUNDLE}
    assert not _audit(tmp_path, "action = 'request.denied' AND reason = 'not_participant'")  # not twice


def test_a_missing_role_and_a_bad_role_are_refused_before_anything_is_asked(
    client: TestClient, embedded: Embedded, bundle: str
) -> None:
    psb = serve(embedded, "psb")
    zjj = as_department(client, embedded, "zjj")
    missing = client.post(
        PREFILL, json=prefill_body({"applicant": embedded.subjects.demo_person}), headers=zjj
    )
    assert (missing.status_code, missing.json()["reason"]) == (400, "missing_subject")
    assert "spouse" in missing.json()["detail"]
    people = _people(embedded) | {"newborn": embedded.subjects.all_persons[2]}
    unknown = client.post(PREFILL, json=prefill_body(people), headers=zjj)
    assert (unknown.status_code, unknown.json()["reason"]) == (400, "unknown_subject_role")
    bad_id = client.post(
        PREFILL, json=prefill_body(_people(embedded) | {"spouse": "110105198804190471"}), headers=zjj
    )
    assert (bad_id.status_code, bad_id.json()["reason"]) == (400, "invalid_subject_id")
    wrong_type = prefill_body(_people(embedded))
    wrong_type["subjects"]["spouse"] = {"type": "enterprise", "id": embedded.subjects.demo_enterprise}
    typed = client.post(PREFILL, json=wrong_type, headers=zjj)
    assert (typed.status_code, typed.json()["reason"]) == (400, "invalid_request")
    nowhere = client.post(
        "/v1/service-items/NO-SUCH-001/prefill", json=prefill_body(_people(embedded)), headers=zjj
    )
    assert (nowhere.status_code, nowhere.json()["reason"]) == (404, "not_found")
    assert psb == []


def test_a_step_department_asking_through_queries_for_another_steps_element_is_denied(
    client: TestClient, embedded: Embedded, bundle: str, tmp_path: Path
) -> None:
    person = embedded.subjects.demo_person
    for consumer, element in (
        ("zjj", "person.si_status"),
        ("hrss", "person.name"),
        ("hrss", "person.household_members"),
    ):
        body = query_body(person, [element], item=BUNDLE, query_id=f"q-step-{consumer}-{element}")
        response = client.post("/v1/queries", json=body, headers=as_department(client, embedded, consumer))
        assert response.status_code == 200, response.text
        result = response.json()["results"][0]
        assert (result["status"], result["reason"], result["jwe"]) == (
            "denied",
            "not_necessary_for_purpose",
            None,
        )
        decided = _audit(tmp_path, "request_id = ? AND action = 'element.decided'", body["query_id"])
        assert [(r["decision"], r["reason"]) for r in decided] == [("deny", "not_necessary_for_purpose")]
    own = query_body(person, HRSS_STEP_ELEMENTS, item=BUNDLE)
    answer = client.post("/v1/queries", json=own, headers=as_department(client, embedded, "hrss")).json()
    assert answer["status"] == "complete"  # its own step's elements are its to read


def test_the_same_prefill_again_replays_the_stored_answers(
    client: TestClient, embedded: Embedded, bundle: str, tmp_path: Path
) -> None:
    psb = serve(embedded, "psb")
    zjj = as_department(client, embedded, "zjj")
    first = client.post(PREFILL, json=prefill_body(_people(embedded)), headers=zjj).json()
    again = client.post(PREFILL, json=prefill_body(_people(embedded)), headers=zjj).json()
    assert again == first and len(psb) == 2  # not asked a second time
    assert len(_audit(tmp_path, "action = 'query.replayed' AND request_id LIKE 'pf-2026-000001.%'")) == 2
    other = prefill_body(_people(embedded) | {"spouse": embedded.subjects.all_persons[3]})
    reused = client.post(PREFILL, json=other, headers=zjj)
    assert (reused.status_code, reused.json()["reason"]) == (409, "conflict")


ELEMENT_SOURCES = {e.code: e.source for e in ELEMENTS}


def test_a_plain_item_is_prefilled_for_its_handler(client: TestClient, embedded: Embedded) -> None:
    body = prefill_body({"applicant": embedded.subjects.demo_person}, prefill_id="pf-housing-0001")
    response = client.post(
        "/v1/service-items/330100-GZF-001/prefill", json=body, headers=as_department(client, embedded, "zjj")
    )
    assert response.status_code == 200, response.text
    out = response.json()
    item = next(i for i in SERVICE_ITEMS if i["code"] == "330100-GZF-001")
    assert [m["name"] for m in out["materials"]] == [m["name"] for m in item["materials"]]
    status = {m["name"]: m["status"] for m in out["materials"]}
    assert status["申请人身份证复印件"] == status["户口簿复印件"] == status["收入证明"] == "supplied"
    sources = {src for m in item["materials"] for src in (ELEMENT_SOURCES[e] for e in m["elements"])}
    assert sorted(q["source"] for q in out["queries"]) == sorted(sources)  # one query per source


def test_each_query_of_the_fan_out_counts_against_the_rate_limit(tmp_path: Path) -> None:
    settings = GatewaySettings(
        database_url=f"sqlite:///{(tmp_path / 'shuyuan.db').resolve()}",
        transport="memory",
        rate_limit_per_s=0.001,
        rate_limit_burst=2,
    )
    embedded = build_embedded(tmp_path, settings)
    with TestClient(embedded.app) as client:
        client.post("/v1/service-items", json=bundle_item(), headers=_steward(client))
        psb = serve(embedded, "psb")
        zjj = as_department(client, embedded, "zjj")
        assert client.get("/v1/departments", headers=zjj).status_code == 200  # one of its two tokens
        # zjj's prefill is two queries (applicant, spouse) but its system has one request's worth left.
        refused = client.post(PREFILL, json=prefill_body(_people(embedded)), headers=zjj)
        assert (refused.status_code, refused.json()["reason"]) == (429, "rate_limited")
        assert psb == []
        # hrss's is one query: within the same limit.
        body = prefill_body({"applicant": embedded.subjects.demo_person}, prefill_id="pf-hrss-rate-01")
        allowed = client.post(PREFILL, json=body, headers=as_department(client, embedded, "hrss"))
        assert allowed.status_code == 200, allowed.text


def test_a_fanned_out_query_refused_as_a_whole_denies_its_elements_and_is_audited(tmp_path: Path) -> None:
    settings = GatewaySettings(
        database_url=f"sqlite:///{(tmp_path / 'shuyuan.db').resolve()}",
        transport="memory",
        max_elements_per_query=1,
    )
    embedded = build_embedded(tmp_path, settings)
    with TestClient(embedded.app) as client:
        client.post("/v1/service-items", json=bundle_item(), headers=_steward(client))
        response = client.post(
            PREFILL, json=prefill_body(_people(embedded)), headers=as_department(client, embedded, "zjj")
        )
    assert response.status_code == 200, response.text
    out = response.json()
    # The applicant's psb query has three elements, over the limit; the spouse's one is answered.
    assert [q["refused"] for q in out["queries"]] == ["invalid_request", None]
    statuses = {
        (m["name"], e["code"]): (e["status"], e["reason"]) for m in out["materials"] for e in m["elements"]
    }
    assert statuses[("申请人身份证复印件", "person.name")] == ("denied", "invalid_request")
    assert statuses[("配偶身份证复印件", "person.name")] == ("ok", None)
    assert out["to_bring"] == ["申请人身份证复印件", "结婚证原件", "户口簿复印件"]
    refused = _audit(tmp_path, "request_id = ?", "pf-2026-000001.0.psb")
    assert [(r["action"], r["reason"]) for r in refused] == [("query.refused", "invalid_request")]
