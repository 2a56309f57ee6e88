"""The query flow end to end in one process: answers equal the department registers, one request per
source, idempotent replays, a complete audit trail, no plaintext at rest, problem+json and OpenAPI."""

import hashlib
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.crypto import PlatformKeys
from exchange.settings import DEV_PLATFORM_KEY
from protocol.envelope import SourceRequest
from protocol.jose import open_subject
from shuyuan.embedded import Embedded
from tests.exchange.conftest import as_department
from tests.sourcekit import serve

HOUSING = "330100-GZF-001"
SOLE_TRADER = "330100-GTH-001"
FOOD_LICENCE = "330100-SPJY-001"
# The `client` fixture sends a token of zjj's test system by default (tests/authkit.py).
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "reason"}

# Asked in an order that interleaves the two sources, to check results keep request order.
HOUSING_ELEMENTS = [
    "person.si_status",
    "person.name",
    "person.si_contribution_base",
    "person.household_members",
    "person.employer_name",
    "person.registered_address",
    "person.si_months_paid",
]


def _counting(embedded: Embedded, dept: str) -> list[SourceRequest]:
    return serve(embedded, dept)


def _audit(conn: sqlite3.Connection, query_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM audit_entry WHERE request_id = ? ORDER BY seq", (query_id,)).fetchall()
    return [dict(r) for r in rows]


def _expected_housing(register: Any, household: Any, subject: str) -> dict[str, Any]:
    hukou = register("psb", "hukou_person", subject)
    insured = register("hrss", "si_insured", subject)
    return {
        "person.name": hukou["name"],
        "person.registered_address": hukou["registered_address"],
        "person.household_members": household(subject),
        "person.si_status": insured["insurance_status"],
        "person.si_contribution_base": insured["contribution_base"],
        "person.si_months_paid": insured["months_paid"],
        "person.employer_name": insured["employer_name"],
    }


# --- answers -----------------------------------------------------------------------------------------


def test_a_two_source_query_returns_the_registers_values_in_request_order(
    client: TestClient,
    embedded: Embedded,
    body: Callable[..., Any],
    register: Any,
    household: Any,
    opened: Any,
) -> None:
    subject = embedded.subjects.demo_person
    psb, hrss = _counting(embedded, "psb"), _counting(embedded, "hrss")
    response = client.post("/v1/queries", json=body(subject, HOUSING_ELEMENTS, query_id="q-happy-0001"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    out = response.json()
    assert out["query_id"] == "q-happy-0001"
    assert out["status"] == "complete"
    assert [r["code"] for r in out["results"]] == HOUSING_ELEMENTS
    expected = _expected_housing(register, household, subject)
    values = opened(response, subject)  # decrypted and verified as the consumer's SDK does
    for result in values.values():
        code = result["code"]
        source = (
            "psb"
            if code in ("person.name", "person.registered_address", "person.household_members")
            else "hrss"
        )
        assert result == {
            "code": code,
            "status": "ok",
            "reason": None,
            "source": source,
            "value": expected[code],
        }
    # The household is the whole register household, head first.
    assert values["person.household_members"]["value"][0]["relation"] == "户主"
    assert len(values["person.household_members"]["value"]) >= 2
    assert all(r["jwe"] and subject not in r["jwe"] for r in out["results"])  # the gateway holds ciphertext

    # One request per source, carrying only that source's elements (in request order) and the purpose.
    assert [r.elements for r in psb] == [
        ["person.name", "person.household_members", "person.registered_address"]
    ]
    assert [r.elements for r in hrss] == [
        ["person.si_status", "person.si_contribution_base", "person.employer_name", "person.si_months_paid"]
    ]
    for request in (psb[0], hrss[0]):
        assert request.consumer == "zjj"
        assert request.query_id == "q-happy-0001"
        assert request.service_item == HOUSING
        assert request.case_no == "CASE-2026-000001"
        # The identifier travels only encrypted to that source, bound to the query.
        keys = embedded.keys[request.source].encryption
        assert open_subject(request.subject_jwe, query_id="q-happy-0001", keys=keys) == ("person", subject)
        assert subject not in request.model_dump_json()
    assert psb[0].message_id != hrss[0].message_id


def test_an_enterprise_query_returns_the_licence_register(
    client: TestClient, embedded: Embedded, body: Callable[..., Any], register: Any, opened: Any
) -> None:
    uscc = embedded.subjects.demo_enterprise
    elements = [
        "enterprise.name",
        "enterprise.legal_representative",
        "enterprise.status",
        "enterprise.address",
        "enterprise.business_scope",
    ]
    query = body(uscc, elements, item=FOOD_LICENCE, subject_type="enterprise")
    response = client.post("/v1/queries", json=query, headers=as_department(client, embedded, "xzsp"))
    assert response.status_code == 200
    licence = register("amr", "business_licence", uscc)
    columns = {
        "enterprise.name": "name",
        "enterprise.legal_representative": "legal_representative",
        "enterprise.status": "status",
        "enterprise.address": "address",
        "enterprise.business_scope": "business_scope",
    }
    assert response.json()["status"] == "complete"
    values = opened(response, uscc, "xzsp", "enterprise")
    assert [(r["code"], r["source"], r["value"]) for r in values.values()] == [
        (code, "amr", licence[columns[code]]) for code in elements
    ]


def test_dates_and_lower_case_check_characters(
    client: TestClient, embedded: Embedded, body: Callable[..., Any], register: Any, opened: Any
) -> None:
    person = next(p for p in embedded.subjects.all_persons if p.endswith("X"))
    psb = _counting(embedded, "psb")
    query = body(person.lower(), ["person.gender", "person.birth_date"], item=SOLE_TRADER)
    response = client.post("/v1/queries", json=query, headers=as_department(client, embedded, "xzsp"))
    assert response.status_code == 200
    row = register("psb", "hukou_person", person)
    values = opened(response, person.lower(), "xzsp")  # the SDK binds to the canonical form too
    assert [r["value"] for r in values.values()] == [row["gender"], row["birth_date"]]
    # The source is asked with the canonical identifier.
    keys = embedded.keys["psb"].encryption
    assert open_subject(psb[0].subject_jwe, query_id=query["query_id"], keys=keys) == ("person", person)


def test_partial_keeps_request_order_across_allowed_and_denied(
    client: TestClient, embedded: Embedded, body: Callable[..., Any]
) -> None:
    elements = ["person.si_status", "person.shoe_size", "enterprise.name", "person.name"]
    response = client.post("/v1/queries", json=body(embedded.subjects.demo_person, elements))
    out = response.json()
    assert out["status"] == "partial"
    assert [(r["code"], r["status"]) for r in out["results"]] == [
        ("person.si_status", "ok"),
        ("person.shoe_size", "denied"),
        ("enterprise.name", "denied"),
        ("person.name", "ok"),
    ]


def test_a_query_with_every_element_denied_asks_no_source(
    client: TestClient, embedded: Embedded, body: Callable[..., Any]
) -> None:
    seen = [_counting(embedded, d) for d in ("psb", "hrss", "amr")]
    response = client.post(
        "/v1/queries",
        json=body(embedded.subjects.demo_person, ["person.name"], item="NO-SUCH-ITEM"),
    )
    assert response.status_code == 200
    assert response.json()["status"] == "partial"
    assert seen == [[], [], []]


# --- idempotency -------------------------------------------------------------------------------------


def test_a_replay_returns_the_identical_body_without_asking_the_sources_again(
    client: TestClient, embedded: Embedded, body: Callable[..., Any], gateway_db: Any
) -> None:
    psb, hrss = _counting(embedded, "psb"), _counting(embedded, "hrss")
    query = body(embedded.subjects.demo_person, HOUSING_ELEMENTS, query_id="q-replay-0001")
    first = client.post("/v1/queries", json=query)
    assert first.status_code == 200
    assert (len(psb), len(hrss)) == (1, 1)

    # Even with the sources gone, the replay is the stored answer, byte for byte.
    embedded.transport.unregister("psb")
    embedded.transport.unregister("hrss")
    second = client.post("/v1/queries", json=query)
    assert second.status_code == 200
    assert second.content == first.content
    assert (len(psb), len(hrss)) == (1, 1)

    rows = _audit(gateway_db(), "q-replay-0001")
    replayed = [r for r in rows if r["action"] == "query.replayed"]
    released = [r for r in rows if r["action"] == "query.released"]
    assert len(replayed) == 1 and len(released) == 1
    assert replayed[0]["response_digest"] == released[0]["response_digest"]
    assert replayed[0]["response_digest"] == hashlib.sha256(second.content).hexdigest()


def test_a_replay_with_the_identifier_written_differently_is_the_same_query(
    client: TestClient, embedded: Embedded, body: Callable[..., Any]
) -> None:
    person = next(p for p in embedded.subjects.all_persons if p.endswith("X"))
    psb = _counting(embedded, "psb")
    query = body(person, ["person.name"], query_id="q-replay-case-01")
    first = client.post("/v1/queries", json=query)
    query["subject"]["id"] = f" {person.lower()}\t"
    second = client.post("/v1/queries", json=query)
    assert second.status_code == 200
    assert second.content == first.content
    assert len(psb) == 1


# --- audit ---------------------------------------------------------------------------------------------


def test_the_audit_trail_of_a_query(
    client: TestClient, embedded: Embedded, body: Callable[..., Any], gateway_db: Any
) -> None:
    subject = embedded.subjects.demo_person
    elements = ["person.name", "person.si_status", "person.shoe_size", "person.registered_address"]
    query = body(subject, elements, query_id="q-audit-0001", case_no="ZJJ-2026-000123")
    response = client.post("/v1/queries", json=query)
    assert response.status_code == 200
    rows = _audit(gateway_db(), "q-audit-0001")

    index = PlatformKeys(DEV_PLATFORM_KEY.encode()).blind_index("person", subject)
    for row in rows:
        assert row["gateway"] == "gw-0"
        assert row["actor_department"] == "zjj"
        assert row["subject_index"] == index
        assert row["service_item"] == HOUSING
        assert row["case_no"] == "ZJJ-2026-000123"
        assert row["time"] is not None

    summary = [
        (r["action"], json.loads(r["elements"]), r["decision"], r["reason"], r["source"]) for r in rows
    ]
    assert summary[0] == ("query.received", elements, None, None, None)
    assert summary[1:5] == [
        ("element.decided", ["person.name"], "allow", None, "psb"),
        ("element.decided", ["person.si_status"], "allow", None, "hrss"),
        ("element.decided", ["person.shoe_size"], "deny", "unknown_element", None),
        ("element.decided", ["person.registered_address"], "allow", None, "psb"),
    ]
    assert sorted(summary[5:9]) == [
        ("source.answered", ["person.name", "person.registered_address"], None, None, "psb"),
        ("source.answered", ["person.si_status"], None, None, "hrss"),
        ("source.dispatched", ["person.name", "person.registered_address"], None, None, "psb"),
        ("source.dispatched", ["person.si_status"], None, None, "hrss"),
    ]
    for source in ("psb", "hrss"):
        actions = [r["action"] for r in rows if r["source"] == source and r["action"].startswith("source.")]
        assert actions == ["source.dispatched", "source.answered"]
    assert summary[9] == ("query.released", elements, None, None, None)
    assert len(rows) == 10
    # The digest is of the exact bytes the consumer received.
    assert rows[9]["response_digest"] == hashlib.sha256(response.content).hexdigest()
    assert all(r["response_digest"] is None for r in rows[:9])
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)


def test_the_blind_index_joins_one_subject_and_separates_others(
    client: TestClient, embedded: Embedded, body: Callable[..., Any], gateway_db: Any
) -> None:
    subjects = [
        embedded.subjects.demo_person,
        embedded.subjects.demo_person,
        embedded.subjects.person_only_in_psb,
    ]
    for i, subject in enumerate(subjects):
        query = body(subject, ["person.name"], query_id=f"q-index-{i:04d}")
        assert client.post("/v1/queries", json=query).status_code == 200
    conn = gateway_db()
    index = [
        conn.execute(
            "SELECT DISTINCT subject_index FROM audit_entry WHERE request_id = ?", (f"q-index-{i:04d}",)
        ).fetchall()
        for i in range(3)
    ]
    assert all(len(found) == 1 for found in index)
    assert index[0] == index[1] != index[2]
    assert len(index[0][0][0]) == 64


def test_concurrent_queries_are_each_audited_in_full(
    client: TestClient, embedded: Embedded, body: Callable[..., Any], gateway_db: Any
) -> None:
    # Many queries share one audit transaction: every row must keep its own fields.
    def _one(i: int) -> int:
        forged = {"Authorization": "Bearer forged"} if i % 4 == 0 else {}
        query = body(
            embedded.subjects.demo_person, ["person.name", "person.shoe_size"], query_id=f"q-conc-{i:04d}"
        )
        return client.post("/v1/queries", json=query, headers=forged).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(_one, range(24)))
    assert statuses.count(401) == 6 and statuses.count(200) == 18
    conn = gateway_db()
    refused = conn.execute(
        "SELECT decision, reason FROM audit_entry WHERE action = 'request.denied'"
    ).fetchall()
    assert [tuple(r) for r in refused] == [("deny", "unauthenticated")] * 6
    decided = conn.execute(
        "SELECT elements, decision, reason, source FROM audit_entry WHERE action = 'element.decided'"
    )
    assert sorted({tuple(r) for r in decided}) == [
        ('["person.name"]', "allow", None, "psb"),
        ('["person.shoe_size"]', "deny", "unknown_element", None),
    ]
    released = conn.execute(
        "SELECT response_digest FROM audit_entry WHERE action = 'query.released'"
    ).fetchall()
    assert len(released) == 18 and all(r[0] and len(r[0]) == 64 for r in released)


# --- no plaintext at rest --------------------------------------------------------------------------------


def _secrets(embedded: Embedded, register: Any, household: Any) -> list[str]:
    """Identifiers and values the gateway handled, which it must never store in the clear."""
    s = embedded.subjects
    found = [s.demo_person, s.person_only_in_psb, s.demo_enterprise]
    for person in (s.demo_person, s.person_only_in_psb):
        hukou = register("psb", "hukou_person", person)
        found += [hukou["name"], hukou["registered_address"], hukou["birth_date"]]
        found += [m["name"] for m in household(person)]
    insured = register("hrss", "si_insured", s.demo_person)
    found += [insured["employer_name"], str(insured["contribution_base"])]
    licence = register("amr", "business_licence", s.demo_enterprise)
    found += [licence["name"], licence["legal_representative"], licence["address"], licence["business_scope"]]
    return found


def _run_sample_queries(client: TestClient, embedded: Embedded, body: Callable[..., Any]) -> None:
    s = embedded.subjects
    for i, subject in enumerate([s.demo_person, s.person_only_in_psb]):
        query = body(subject, HOUSING_ELEMENTS, query_id=f"q-plain-{i:04d}")
        assert client.post("/v1/queries", json=query).status_code == 200
    food = [
        "enterprise.name",
        "enterprise.legal_representative",
        "enterprise.address",
        "enterprise.business_scope",
    ]
    query = body(s.demo_enterprise, food, item=FOOD_LICENCE, subject_type="enterprise")
    xzsp = as_department(client, embedded, "xzsp")
    assert client.post("/v1/queries", json=query, headers=xzsp).status_code == 200
    query = body(s.demo_person, ["person.gender", "person.birth_date"], item=SOLE_TRADER)
    assert client.post("/v1/queries", json=query, headers=xzsp).status_code == 200


def _database_files(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.iterdir() if p.name.startswith("shuyuan.db")]


def test_the_gateway_database_holds_no_plaintext_identifier_or_value(
    client: TestClient,
    embedded: Embedded,
    body: Callable[..., Any],
    gateway_db: Any,
    register: Any,
    household: Any,
    tmp_path: Path,
) -> None:
    _run_sample_queries(client, embedded, body)
    secrets = _secrets(embedded, register, household)
    conn = gateway_db()
    assert conn.execute("SELECT COUNT(*) FROM audit_entry").fetchone()[0] > 20
    assert conn.execute("SELECT COUNT(*) FROM query_record").fetchone()[0] == 4
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert {"audit_entry", "query_record"} <= set(tables)
    for table in tables:
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            for cell in row:
                text = cell.decode("latin-1") if isinstance(cell, bytes) else str(cell)
                raw = cell if isinstance(cell, bytes) else str(cell).encode()
                for secret in secrets:
                    assert secret not in text, f"{table} holds a plaintext value"
                    assert secret.encode() not in raw, f"{table} holds a plaintext value"

    def _scan_files() -> None:
        files = _database_files(tmp_path)
        assert files
        for path in files:
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"{path.name} holds a plaintext value"

    _scan_files()  # while running (the WAL included)
    client.__exit__(None, None, None)  # shut down: checkpoint
    _scan_files()


def test_the_stored_answer_is_sealed_and_bound_to_its_query(
    client: TestClient, embedded: Embedded, body: Callable[..., Any], gateway_db: Any
) -> None:
    query = body(
        embedded.subjects.demo_person, ["person.name", "person.household_members"], query_id="q-sealed-0001"
    )
    response = client.post("/v1/queries", json=query)
    row = gateway_db().execute("SELECT * FROM query_record").fetchone()
    assert (row["consumer"], row["query_id"]) == ("zjj", "q-sealed-0001")
    assert len(row["request_digest"]) == 64
    keys = PlatformKeys(DEV_PLATFORM_KEY.encode())
    plain = keys.unseal(row["response_sealed"], context=b"query_record:zjj:q-sealed-0001")
    assert json.loads(plain) == response.json()
    assert hashlib.sha256(plain).hexdigest() == hashlib.sha256(response.content).hexdigest()
    with pytest.raises(Exception):  # noqa: B017 - AESGCM raises InvalidTag for a foreign context
        keys.unseal(row["response_sealed"], context=b"query_record:xzsp:q-sealed-0001")


# --- problem+json and OpenAPI ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,payload,headers,status,reason",
    [
        ("post", "/v1/queries", None, {"Authorization": ""}, 401, "unauthenticated"),
        ("post", "/v1/queries", {"x": 1}, {}, 422, "invalid_request"),
        ("get", "/v1/no-such-route", None, {}, 404, "not_found"),
        ("get", "/v1/elements/person.nope", None, {}, 404, "not_found"),
        ("delete", "/v1/queries", None, {}, 405, "invalid_request"),
    ],
    ids=["401", "422", "404 route", "404 resource", "405"],
)
def test_errors_are_problem_json(
    client: TestClient,
    method: str,
    path: str,
    payload: Any,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    response = client.request(method, path, json=payload, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) >= PROBLEM_FIELDS
    assert set(problem) - PROBLEM_FIELDS <= {"errors", "error", "error_description"}
    assert problem["status"] == status
    assert problem["reason"] == reason
    assert problem["type"] == f"https://shuyuan.example/problems/{reason}"
    assert problem["instance"] == path
    assert problem["title"] and problem["detail"]


def test_the_openapi_document_describes_post_v1_queries(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    post = doc["paths"]["/v1/queries"]["post"]
    assert post["requestBody"]["required"] is True
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schemas = doc["components"]["schemas"]
    query_in = schemas[ref.rsplit("/", 1)[1]]
    fields = {"query_id", "subject", "elements", "purpose", "on_behalf_of", "requested_at"}
    assert set(query_in["required"]) == fields
    assert set(query_in["properties"]) == fields | {"callback_url", "callback"}  # async only, optional
    assert query_in["additionalProperties"] is False
    ok = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert set(schemas[ok.rsplit("/", 1)[1]]["properties"]) == {"query_id", "status", "results"}
    for status, reason in {
        "400": "callback_not_registered",
        "401": "unauthenticated",
        "403": "client_disabled",
        "409": "conflict",
        "422": "invalid_request",
        "503": "audit_unavailable",
    }.items():
        assert reason in post["responses"][status]["description"]
        assert "application/problem+json" in post["responses"][status]["content"]
    assert post["security"] == [{"HTTPBearer": []}]
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token from POST /oauth/token",
    }
    assert {"/v1/departments", "/v1/elements", "/v1/service-items", "/v1/agreements"} <= set(doc["paths"])


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_the_database_and_the_audit_path(client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert {name for name, c in ready.json()["checks"].items() if c["ok"]} == {"database", "audit"}
