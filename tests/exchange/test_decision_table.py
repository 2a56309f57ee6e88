"""Every reason code of DESIGN.md §6 that the gateway can give today, reached through POST /v1/queries.

Request-level reasons are problem+json responses with an HTTP status; element-level reasons are
per-element results of a 200 answer, and each decision is also in the audit log.
Every request carries a real access token (private_key_jwt, tests/authkit.py).
"""

import copy
import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.transport.memory import MemoryTransport
from protocol.envelope import ElementAnswer, SourceReply, SourceRequest
from protocol.identifiers import resident_id_check_char, uscc_check_char
from shuyuan.app import app_state
from shuyuan.embedded import Embedded
from shuyuan.sample_catalogue import SERVICE_ITEMS
from tests.authkit import bearer, register_test_system
from tests.exchange.conftest import as_department, open_response
from tests.sourcekit import serve

HOUSING = "330100-GZF-001"
SOLE_TRADER = "330100-GTH-001"
FOOD_LICENCE = "330100-SPJY-001"
PROBLEM = "application/problem+json"
# The `client` fixture sends a token of zjj's test system by default (tests/authkit.py).


def _audit(conn: sqlite3.Connection, query_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM audit_entry WHERE request_id = ? ORDER BY seq", (query_id,)).fetchall()
    return [dict(r) for r in rows]


def _decided(conn: sqlite3.Connection, query_id: str) -> dict[str, dict[str, Any]]:
    return {
        json.loads(r["elements"])[0]: r for r in _audit(conn, query_id) if r["action"] == "element.decided"
    }


def _result(response: Any, code: str) -> dict[str, Any]:
    return next(r for r in response.json()["results"] if r["code"] == code)


def _assert_problem(response: Any, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["reason"] == reason
    assert problem["status"] == status
    assert problem["type"].endswith(f"/{reason}")
    assert problem["instance"] == "/v1/queries"
    return problem


# No correction is open in these tests (exchange/corrections): no answer is flagged disputed.
NOT_DISPUTED = {"disputed": False, "correction_id": None, "consent_id": None}


def _assert_denied(response: Any, code: str, reason: str, source: str | None) -> None:
    assert response.status_code == 200, response.text
    result = _result(response, code)
    assert (
        result
        == {"code": code, "status": "denied", "reason": reason, "source": source, "jwe": None} | NOT_DISPUTED
    )
    assert response.json()["status"] == "partial"


def _bad_check_char(valid: str, alphabet: str, check: Callable[[str], str]) -> str:
    right = check(valid[:17])
    return valid[:17] + next(c for c in alphabet if c != right)


def _counting(transport: MemoryTransport, embedded: Embedded, dept: str) -> list[SourceRequest]:
    assert transport is embedded.transport
    return serve(embedded, dept)


def _steward(client: TestClient) -> dict[str, str]:
    # Service items are a steward's (issue 9): a steward system of the test registers them.
    steward_scopes = ["registry:read", "registry:write", "registry:steward"]
    key = register_test_system(
        app_state(client.app).engine, client_id="steward-test", department="xzsp", scopes=steward_scopes
    )
    return bearer(client, key, "steward-test")


def _put_item(client: TestClient, item: dict[str, Any]) -> None:
    response = client.put(f"/v1/service-items/{item['code']}", json=item, headers=_steward(client))
    assert response.status_code == 200, response.text


def _create_item(client: TestClient, code: str, handler: str, elements: list[str]) -> None:
    response = client.post(
        "/v1/service-items",
        json={
            "code": code,
            "name": "测试事项",
            "handling_department": handler,
            "materials": [{"name": "材料", "elements": elements}],
        },
        headers=_steward(client),
    )
    assert response.status_code == 201, response.text


# --- invalid_request: the body does not match the schema (422) --------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def _apply(b: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target = b
        for p in parents:
            target = target[p]
        target[leaf] = value

    return _apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def _apply(b: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target = b
        for p in parents:
            target = target[p]
        del target[leaf]

    return _apply


SCHEMA_VIOLATIONS = {
    "unknown top-level field": (_set("priority", "high"), ["body", "priority"]),
    "unknown subject field": (_set("subject.name", "张三"), ["body", "subject", "name"]),
    "unknown purpose field": (_set("purpose.legal_basis", "x"), ["body", "purpose", "legal_basis"]),
    "missing purpose": (_delete("purpose"), ["body", "purpose"]),
    "missing case_no": (_delete("purpose.case_no"), ["body", "purpose", "case_no"]),
    "missing on_behalf_of": (_delete("on_behalf_of"), ["body", "on_behalf_of"]),
    "missing elements": (_delete("elements"), ["body", "elements"]),
    "missing query_id": (_delete("query_id"), ["body", "query_id"]),
    "query_id too short": (_set("query_id", "q-1234"), ["body", "query_id"]),
    "query_id starts with a dash": (_set("query_id", "-q-12345678"), ["body", "query_id"]),
    "query_id with a space": (_set("query_id", "q 12345678"), ["body", "query_id"]),
    "query_id with a slash": (_set("query_id", "q/12345678"), ["body", "query_id"]),
    "query_id too long": (_set("query_id", "q" * 65), ["body", "query_id"]),
    "no elements": (_set("elements", []), ["body", "elements"]),
    "more elements than the schema allows": (
        _set("elements", [f"person.e{i}" for i in range(501)]),
        ["body", "elements"],
    ),
    "element not a string": (_set("elements", [42]), ["body", "elements", "0"]),
    "NUL in case_no": (_set("purpose.case_no", "ZJJ\x00-1"), ["body", "purpose", "case_no"]),
    "newline in case_no": (_set("purpose.case_no", "ZJJ-1\nforged log line"), ["body", "purpose", "case_no"]),
    "DEL in case_no": (_set("purpose.case_no", "ZJJ\x7f1"), ["body", "purpose", "case_no"]),
    "empty case_no": (_set("purpose.case_no", ""), ["body", "purpose", "case_no"]),
    "case_no too long": (_set("purpose.case_no", "号" * 65), ["body", "purpose", "case_no"]),
    "empty service item": (_set("purpose.service_item", ""), ["body", "purpose", "service_item"]),
    "unknown subject type": (_set("subject.type", "household"), ["body", "subject", "type"]),
    "subject id too long": (_set("subject.id", "1" * 33), ["body", "subject", "id"]),
    "subject id not a string": (_set("subject.id", 110105198804190479), ["body", "subject", "id"]),
}


@pytest.mark.parametrize("mutate,loc", SCHEMA_VIOLATIONS.values(), ids=SCHEMA_VIOLATIONS.keys())
def test_a_body_off_the_schema_is_invalid_request_422_naming_the_field(
    shared_gateway: tuple[Embedded, TestClient],
    body: Callable[..., dict[str, Any]],
    mutate: Any,
    loc: list[str],
) -> None:
    embedded, client = shared_gateway
    query = body(embedded.subjects.demo_person, ["person.name"])
    mutate(query)
    response = client.post("/v1/queries", json=query)
    problem = _assert_problem(response, 422, "invalid_request")
    assert loc in [e["loc"] for e in problem["errors"]]
    # Field errors say where and why, never what was sent: the input may be personal data.
    assert all(set(e) == {"loc", "msg", "type"} for e in problem["errors"])


def test_schema_errors_do_not_echo_the_subject_identifier(
    client: TestClient, embedded: Embedded, body: Callable[..., dict[str, Any]]
) -> None:
    query = body(embedded.subjects.demo_person, ["person.name"])
    query["subject"]["extra"] = embedded.subjects.demo_person
    query["purpose"]["case_no"] = f"{embedded.subjects.demo_person}\n"
    response = client.post("/v1/queries", json=query)
    _assert_problem(response, 422, "invalid_request")
    assert embedded.subjects.demo_person not in response.text


def test_a_body_that_is_not_json_is_invalid_request(client: TestClient) -> None:
    response = client.post("/v1/queries", content=b"{not json", headers={"Content-Type": "application/json"})
    _assert_problem(response, 422, "invalid_request")


# --- invalid_request: well-formed but refused by the service (400) --------------------------------


def test_more_elements_than_the_gateway_allows_is_invalid_request_400(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], body: Callable[..., dict[str, Any]]
) -> None:
    embedded, client = gateway_with(max_elements_per_query=3)
    elements = ["person.name", "person.registered_address", "person.household_members", "person.si_status"]
    response = client.post("/v1/queries", json=body(embedded.subjects.demo_person, elements))
    problem = _assert_problem(response, 400, "invalid_request")
    assert "3" in problem["detail"]
    # Exactly the limit is fine.
    response = client.post("/v1/queries", json=body(embedded.subjects.demo_person, elements[:3]))
    assert response.status_code == 200
    assert response.json()["status"] == "complete"


def test_the_default_limit_is_50_elements(ask: Any, embedded: Embedded) -> None:
    response = ask("zjj", embedded.subjects.demo_person, [f"person.e{i}" for i in range(51)])
    _assert_problem(response, 400, "invalid_request")
    response = ask("zjj", embedded.subjects.demo_person, [f"person.e{i}" for i in range(50)])
    assert response.status_code == 200
    assert {r["reason"] for r in response.json()["results"]} == {"unknown_element"}


def test_an_element_named_twice_is_invalid_request_400(ask: Any, embedded: Embedded) -> None:
    response = ask("zjj", embedded.subjects.demo_person, ["person.name", "person.si_status", "person.name"])
    _assert_problem(response, 400, "invalid_request")


def test_an_element_of_another_subject_type_is_denied_as_invalid_request(
    ask: Any, embedded: Embedded, gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    amr = _counting(embedded.transport, embedded, "amr")
    response = ask(
        "xzsp",
        embedded.subjects.demo_person,
        ["enterprise.name"],
        item=FOOD_LICENCE,
        query_id="q-subject-type",
    )
    _assert_denied(response, "enterprise.name", "invalid_request", "amr")
    assert amr == []  # a denied element never reaches its source
    row = _decided(gateway_db(), "q-subject-type")["enterprise.name"]
    assert (row["decision"], row["reason"], row["source"]) == ("deny", "invalid_request", "amr")


# --- invalid_subject_id -----------------------------------------------------------------------------


def test_a_resident_id_with_a_wrong_check_character_is_invalid_subject_id(
    ask: Any, embedded: Embedded
) -> None:
    bad = _bad_check_char(embedded.subjects.demo_person, "0123456789X", resident_id_check_char)
    psb = _counting(embedded.transport, embedded, "psb")
    response = ask("zjj", bad, ["person.name"])
    problem = _assert_problem(response, 400, "invalid_subject_id")
    assert problem["detail"] == "check character does not match"
    assert bad not in response.text  # the identifier is personal data: never echoed
    assert psb == []


def test_a_uscc_with_a_wrong_check_character_is_invalid_subject_id(ask: Any, embedded: Embedded) -> None:
    good = embedded.subjects.demo_enterprise
    bad = _bad_check_char(good, "0123456789ABCDEFGHJKLMNPQRTUWXY", uscc_check_char)
    response = ask("xzsp", bad, ["enterprise.name"], item=FOOD_LICENCE, subject_type="enterprise")
    problem = _assert_problem(response, 400, "invalid_subject_id")
    assert problem["detail"] == "check character does not match"
    assert bad not in response.text


@pytest.mark.parametrize(
    "mangle",
    [
        lambda i: i[:17],  # too short
        lambda i: i[:6] + "1899" + i[10:],  # born before 1900
        lambda i: i[:6] + "20991231" + i[14:],  # born in the future
        lambda i: i[:10] + "1340" + i[14:],  # 40 December
        lambda i: "１" + i[1:],  # a fullwidth digit
    ],
    ids=["17 characters", "before 1900", "future birth date", "not a date", "fullwidth digit"],
)
def test_malformed_resident_ids_are_invalid_subject_id(
    shared_gateway: tuple[Embedded, TestClient], body: Callable[..., dict[str, Any]], mangle: Any
) -> None:
    embedded, client = shared_gateway
    query = body(mangle(embedded.subjects.demo_person), ["person.name"])
    _assert_problem(client.post("/v1/queries", json=query), 400, "invalid_subject_id")


def test_a_person_id_given_as_an_enterprise_is_invalid_subject_id(ask: Any, embedded: Embedded) -> None:
    response = ask(
        "xzsp",
        embedded.subjects.demo_person,
        ["enterprise.name"],
        item=FOOD_LICENCE,
        subject_type="enterprise",
    )
    _assert_problem(response, 400, "invalid_subject_id")


def test_the_caller_is_authenticated_before_its_body_is_looked_at(ask: Any, embedded: Embedded) -> None:
    # An unauthenticated caller learns nothing, not even whether an identifier is well-formed: the
    # token is checked before the body (DESIGN.md §6 lists invalid_subject_id first; see docs/api.md).
    bad = _bad_check_char(embedded.subjects.demo_person, "0123456789X", resident_id_check_char)
    _assert_problem(ask("nosuchdept", bad, ["person.name"]), 401, "unauthenticated")
    _assert_problem(ask("zjj", bad, ["person.name"]), 400, "invalid_subject_id")


def _last_denial(conn: sqlite3.Connection) -> dict[str, Any]:
    sql = "SELECT * FROM audit_entry WHERE action = 'request.denied' ORDER BY seq DESC"
    row = conn.execute(sql).fetchone()
    return dict(row)


def test_no_token_is_unauthenticated(ask: Any, embedded: Embedded) -> None:
    response = ask(None, embedded.subjects.demo_person, ["person.name"])
    problem = _assert_problem(response, 401, "unauthenticated")
    assert "access token" in problem["detail"]
    assert problem["error"] == "invalid_token"  # RFC 6750 §3.1


def test_the_old_department_header_identifies_no_one(
    client: TestClient, embedded: Embedded, body: Any
) -> None:
    query = body(embedded.subjects.demo_person, ["person.name"])
    response = client.post(
        "/v1/queries", json=query, headers={"Authorization": "", "X-Consumer-Department": "zjj"}
    )
    _assert_problem(response, 401, "unauthenticated")


def test_a_forged_token_is_unauthenticated_and_the_refusal_is_audited(
    ask: Any, embedded: Embedded, gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    psb = _counting(embedded.transport, embedded, "psb")
    response = ask("nosuchdept", embedded.subjects.demo_person, ["person.name"], query_id="q-unknown-dept")
    _assert_problem(response, 401, "unauthenticated")
    assert psb == []
    conn = gateway_db()
    assert _audit(conn, "q-unknown-dept") == []  # the body of an unauthenticated caller is not read
    row = _last_denial(conn)
    assert (row["actor_department"], row["decision"], row["reason"]) == (
        "anonymous",
        "deny",
        "unauthenticated",
    )


def _disable(gateway_db: Callable[[], sqlite3.Connection], dept: str) -> None:
    conn = gateway_db()
    conn.execute("UPDATE department SET status = 'disabled' WHERE code = ?", (dept,))
    conn.commit()


def test_a_disabled_department_is_client_disabled_at_its_next_request(
    client: TestClient, ask: Any, embedded: Embedded, gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    assert ask("zjj", embedded.subjects.demo_person, ["person.name"]).status_code == 200
    _disable(gateway_db, "zjj")  # straight in the database: no cache to invalidate, no event needed
    psb = _counting(embedded.transport, embedded, "psb")
    response = ask("zjj", embedded.subjects.demo_person, ["person.name"], query_id="q-disabled-1")
    _assert_problem(response, 403, "client_disabled")
    assert psb == []
    row = _last_denial(gateway_db())
    assert (row["actor_department"], row["decision"], row["reason"]) == ("zjj", "deny", "client_disabled")
    # Another department is unaffected.
    other = ask("xzsp", embedded.subjects.demo_person, ["person.name"], item=SOLE_TRADER)
    assert other.status_code == 200


def test_a_disabled_system_is_client_disabled_while_its_department_is_not(
    client: TestClient, ask: Any, embedded: Embedded, body: Any, gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    assert ask("zjj", embedded.subjects.demo_person, ["person.name"]).status_code == 200  # token in hand
    conn = gateway_db()
    conn.execute("UPDATE client_system SET status = 'disabled' WHERE client_id = 'zjj-housing'")
    conn.commit()
    _assert_problem(ask("zjj", embedded.subjects.demo_person, ["person.name"]), 403, "client_disabled")
    # zjj's other system (the default test client) still works.
    query = body(embedded.subjects.demo_person, ["person.name"])
    assert client.post("/v1/queries", json=query).status_code == 200


def test_rate_limited_with_retry_after_and_audited(
    gateway_with: Callable[..., tuple[Embedded, TestClient]],
    body: Callable[..., dict[str, Any]],
    gateway_db: Callable[[], sqlite3.Connection],
) -> None:
    embedded, client = gateway_with(rate_limit_per_s=0.2, rate_limit_burst=2)
    psb = _counting(embedded.transport, embedded, "psb")
    person = embedded.subjects.demo_person
    for _ in range(2):
        assert client.post("/v1/queries", json=body(person, ["person.name"])).status_code == 200
    response = client.post("/v1/queries", json=body(person, ["person.name"]))
    _assert_problem(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1
    assert len(psb) == 2  # the third query reached no source
    row = _last_denial(gateway_db())
    assert (row["actor_department"], row["decision"], row["reason"]) == ("zjj", "deny", "rate_limited")


def test_the_catalogue_refreshes_by_itself_after_catalogue_refresh_s(
    gateway_with: Callable[..., tuple[Embedded, TestClient]],
    body: Callable[..., dict[str, Any]],
    gateway_db: Callable[[], sqlite3.Connection],
) -> None:
    embedded, client = gateway_with(catalogue_refresh_s=0.05)
    query = body(embedded.subjects.demo_person, ["person.name"])
    assert _result(client.post("/v1/queries", json=query), "person.name")["status"] == "ok"
    conn = gateway_db()
    conn.execute("UPDATE data_element SET status = 'retired' WHERE code = 'person.name'")
    conn.commit()  # behind the gateway's back: no registry event, only the periodic refresh sees it
    time.sleep(0.1)
    query = body(embedded.subjects.demo_person, ["person.name"])
    assert _result(client.post("/v1/queries", json=query), "person.name")["reason"] == "retired_element"


def test_a_disabled_department_gets_no_replay_of_an_earlier_answer(
    client: TestClient, embedded: Embedded, body: Callable[..., dict[str, Any]], gateway_db: Any
) -> None:
    query = body(embedded.subjects.demo_person, ["person.name"], query_id="q-before-disable")
    assert client.post("/v1/queries", json=query).status_code == 200
    _disable(gateway_db, "zjj")
    embedded.state.catalogue.invalidate()
    response = client.post("/v1/queries", json=query)
    _assert_problem(response, 403, "client_disabled")
    assert "value" not in response.text


# --- element-level policy ----------------------------------------------------------------------------


def test_unknown_element(ask: Any, embedded: Embedded, gateway_db: Any) -> None:
    response = ask(
        "zjj", embedded.subjects.demo_person, ["person.name", "person.shoe_size"], query_id="q-unk-el"
    )
    _assert_denied(response, "person.shoe_size", "unknown_element", None)
    assert _result(response, "person.name")["status"] == "ok"
    row = _decided(gateway_db(), "q-unk-el")["person.shoe_size"]
    assert (row["decision"], row["reason"], row["source"]) == ("deny", "unknown_element", None)


@pytest.mark.parametrize("status", ["retired", "superseded"])
def test_retired_element(
    client: TestClient, ask: Any, embedded: Embedded, gateway_db: Any, status: str
) -> None:
    conn = gateway_db()
    conn.execute("UPDATE data_element SET status = ? WHERE code = 'person.registered_address'", (status,))
    conn.commit()
    embedded.state.catalogue.invalidate()
    psb = _counting(embedded.transport, embedded, "psb")
    response = ask(
        "zjj",
        embedded.subjects.demo_person,
        ["person.name", "person.registered_address"],
        query_id="q-retired",
    )
    _assert_denied(response, "person.registered_address", "retired_element", "psb")
    assert [r.elements for r in psb] == [["person.name"]]
    row = _decided(gateway_db(), "q-retired")["person.registered_address"]
    assert (row["decision"], row["reason"]) == ("deny", "retired_element")


def test_unknown_purpose(ask: Any, embedded: Embedded, gateway_db: Any) -> None:
    response = ask(
        "zjj",
        embedded.subjects.demo_person,
        ["person.name"],
        item="330100-NOPE-999",
        query_id="q-unk-purpose",
    )
    _assert_denied(response, "person.name", "unknown_purpose", "psb")
    assert _decided(gateway_db(), "q-unk-purpose")["person.name"]["reason"] == "unknown_purpose"


def test_not_necessary_for_purpose(ask: Any, embedded: Embedded, gateway_db: Any) -> None:
    # 个体工商户设立登记 needs the operator's identity, not their social insurance.
    hrss = _counting(embedded.transport, embedded, "hrss")
    response = ask(
        "xzsp",
        embedded.subjects.demo_person,
        ["person.name", "person.si_status"],
        item=SOLE_TRADER,
        query_id="q-not-needed",
    )
    _assert_denied(response, "person.si_status", "not_necessary_for_purpose", "hrss")
    assert _result(response, "person.name")["status"] == "ok"
    assert hrss == []
    assert _decided(gateway_db(), "q-not-needed")["person.si_status"]["reason"] == "not_necessary_for_purpose"


def test_a_purpose_binds_the_consumer_too(ask: Any, embedded: Embedded) -> None:
    # zjj's housing item needs si_status; xzsp's sole-trader item does not, whoever asks.
    response = ask("zjj", embedded.subjects.demo_person, ["person.si_status"], item=SOLE_TRADER)
    _assert_denied(response, "person.si_status", "not_necessary_for_purpose", "hrss")


def test_not_shared(client: TestClient, ask: Any, embedded: Embedded, gateway_db: Any) -> None:
    _create_item(client, "TEST-NOT-SHARED-1", "zjj", ["person.name", "person.criminal_record"])
    psb = _counting(embedded.transport, embedded, "psb")
    response = ask(
        "zjj",
        embedded.subjects.demo_person,
        ["person.criminal_record", "person.name"],
        item="TEST-NOT-SHARED-1",
        query_id="q-not-shared",
    )
    _assert_denied(response, "person.criminal_record", "not_shared", "psb")
    assert [r.elements for r in psb] == [["person.name"]]
    assert _decided(gateway_db(), "q-not-shared")["person.criminal_record"]["reason"] == "not_shared"


def test_no_agreement(client: TestClient, ask: Any, embedded: Embedded, gateway_db: Any) -> None:
    # xzsp has no agreement for the conditional contribution months, even for an item that needs them.
    _create_item(client, "TEST-NO-AGREEMENT-1", "xzsp", ["person.si_months_paid", "person.si_status"])
    hrss = _counting(embedded.transport, embedded, "hrss")
    response = ask(
        "xzsp",
        embedded.subjects.demo_person,
        ["person.si_months_paid", "person.si_status"],
        item="TEST-NO-AGREEMENT-1",
        query_id="q-no-agreement",
    )
    _assert_denied(response, "person.si_months_paid", "no_agreement", "hrss")
    assert _result(response, "person.si_status")["status"] == "ok"
    assert [r.elements for r in hrss] == [["person.si_status"]]
    assert _decided(gateway_db(), "q-no-agreement")["person.si_months_paid"]["reason"] == "no_agreement"


def _agreement(
    client: TestClient, consumer: str, element: str, item: str, start: datetime, end: datetime, status: str
) -> None:
    response = client.post(
        "/v1/agreements",
        json={
            "consumer": consumer,
            "element": element,
            "service_item": item,
            "legal_basis": "测试依据",
            "valid_from": start.isoformat(),
            "valid_until": end.isoformat(),
            "status": status,
        },
        headers=_steward(client),  # recording an agreement for another department is a steward's (issue 9)
    )
    assert response.status_code == 201, response.text


def test_a_requested_agreement_is_still_no_agreement(
    client: TestClient, ask: Any, embedded: Embedded
) -> None:
    _create_item(client, "TEST-REQUESTED-1", "xzsp", ["person.si_months_paid"])
    now = datetime.now(UTC)
    _agreement(
        client,
        "xzsp",
        "person.si_months_paid",
        "TEST-REQUESTED-1",
        now - timedelta(days=1),
        now + timedelta(days=1),
        "requested",
    )
    response = ask("xzsp", embedded.subjects.demo_person, ["person.si_months_paid"], item="TEST-REQUESTED-1")
    _assert_denied(response, "person.si_months_paid", "no_agreement", "hrss")


def test_agreement_expired_then_a_new_agreement_allows(
    client: TestClient, ask: Any, embedded: Embedded, gateway_db: Any, register: Any
) -> None:
    _create_item(client, "TEST-EXPIRED-1", "xzsp", ["person.si_months_paid"])
    now = datetime.now(UTC)
    _agreement(
        client,
        "xzsp",
        "person.si_months_paid",
        "TEST-EXPIRED-1",
        now - timedelta(days=30),
        now - timedelta(days=1),
        "approved",
    )
    response = ask(
        "xzsp",
        embedded.subjects.demo_person,
        ["person.si_months_paid"],
        item="TEST-EXPIRED-1",
        query_id="q-expired",
    )
    _assert_denied(response, "person.si_months_paid", "agreement_expired", "hrss")
    assert _decided(gateway_db(), "q-expired")["person.si_months_paid"]["reason"] == "agreement_expired"

    # The registry write refreshes the gateway's catalogue at once: no waiting for catalogue_refresh_s.
    _agreement(
        client,
        "xzsp",
        "person.si_months_paid",
        "TEST-EXPIRED-1",
        now - timedelta(days=1),
        now + timedelta(days=30),
        "approved",
    )
    response = ask("xzsp", embedded.subjects.demo_person, ["person.si_months_paid"], item="TEST-EXPIRED-1")
    assert response.status_code == 200
    expected = register("hrss", "si_insured", embedded.subjects.demo_person)["months_paid"]
    values = open_response(client, embedded, response, embedded.subjects.demo_person, "xzsp")
    assert values["person.si_months_paid"] == {
        "code": "person.si_months_paid",
        "status": "ok",
        "reason": None,
        "source": "hrss",
        "value": expected,
    }


def test_an_agreement_that_starts_in_the_future_is_no_agreement(
    client: TestClient, ask: Any, embedded: Embedded
) -> None:
    _create_item(client, "TEST-FUTURE-1", "xzsp", ["person.si_months_paid"])
    now = datetime.now(UTC)
    _agreement(
        client,
        "xzsp",
        "person.si_months_paid",
        "TEST-FUTURE-1",
        now + timedelta(days=1),
        now + timedelta(days=30),
        "approved",
    )
    response = ask("xzsp", embedded.subjects.demo_person, ["person.si_months_paid"], item="TEST-FUTURE-1")
    _assert_denied(response, "person.si_months_paid", "no_agreement", "hrss")


def test_another_departments_agreement_does_not_count(
    client: TestClient, ask: Any, embedded: Embedded
) -> None:
    # zjj's agreements are for its housing item; xzsp asking under that item has none of its own: not
    # even once a steward makes it a participant of the item (before, the purpose alone refuses it).
    response = ask("xzsp", embedded.subjects.demo_person, ["person.si_contribution_base"], item=HOUSING)
    _assert_denied(response, "person.si_contribution_base", "not_necessary_for_purpose", "hrss")
    housing = next(i for i in SERVICE_ITEMS if i["code"] == HOUSING)
    _put_item(client, housing | {"participants": ["xzsp"]})
    response = ask("xzsp", embedded.subjects.demo_person, ["person.si_contribution_base"], item=HOUSING)
    _assert_denied(response, "person.si_contribution_base", "no_agreement", "hrss")


# --- source outcomes ---------------------------------------------------------------------------------


def test_source_timeout(
    gateway_with: Callable[..., tuple[Embedded, TestClient]],
    body: Callable[..., dict[str, Any]],
    gateway_db: Any,
    register: Any,
) -> None:
    embedded, client = gateway_with(source_timeout_s=0.3)
    embedded.transport.unregister("hrss")
    query = body(embedded.subjects.demo_person, ["person.si_status", "person.name"], query_id="q-timeout")
    started = time.monotonic()
    response = client.post("/v1/queries", json=query)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2.0
    assert response.status_code == 200
    assert response.json()["status"] == "partial"
    assert _result(response, "person.si_status") == {
        "code": "person.si_status",
        "status": "unavailable",
        "reason": "source_timeout",
        "source": "hrss",
        "jwe": None,
        **NOT_DISPUTED,
    }
    name = register("psb", "hukou_person", embedded.subjects.demo_person)["name"]
    values = open_response(client, embedded, response, embedded.subjects.demo_person)
    assert values["person.name"]["value"] == name
    actions = [(r["action"], r["source"], r["reason"]) for r in _audit(gateway_db(), "q-timeout")]
    assert ("source.timed_out", "hrss", "source_timeout") in actions
    assert ("source.answered", "psb", None) in actions


def test_a_source_slower_than_the_deadline_is_source_timeout(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], body: Callable[..., dict[str, Any]]
) -> None:
    embedded, client = gateway_with(source_timeout_s=0.2)
    serve(embedded, "hrss", before=lambda _: time.sleep(0.5))
    response = client.post("/v1/queries", json=body(embedded.subjects.demo_person, ["person.si_status"]))
    assert _result(response, "person.si_status")["reason"] == "source_timeout"


def test_source_unavailable_when_the_connector_raises(
    client: TestClient, ask: Any, embedded: Embedded, gateway_db: Any
) -> None:
    def _broken(message: bytes) -> bytes:
        raise RuntimeError("department database is down")

    embedded.transport.register("hrss", _broken)
    response = ask(
        "zjj",
        embedded.subjects.demo_person,
        ["person.si_status", "person.employer_name", "person.name"],
        query_id="q-unavailable",
    )
    assert response.status_code == 200
    for code in ("person.si_status", "person.employer_name"):
        assert _result(response, code) == {
            "code": code,
            "status": "unavailable",
            "reason": "source_unavailable",
            "source": "hrss",
            "jwe": None,
            **NOT_DISPUTED,
        }
    assert _result(response, "person.name")["status"] == "ok"
    actions = [(r["action"], r["source"], r["reason"]) for r in _audit(gateway_db(), "q-unavailable")]
    assert ("source.failed", "hrss", "source_unavailable") in actions


def test_a_reply_that_leaves_out_or_fails_an_element_is_source_unavailable_for_that_element(
    client: TestClient, ask: Any, embedded: Embedded
) -> None:
    unasked: list[str] = []

    def _more(request: SourceRequest) -> SourceRequest:
        return request.model_copy(update={"elements": ["person.si_status", "person.si_contribution_base"]})

    def _partial(request: SourceRequest, real: SourceReply) -> SourceReply:
        # Real, signed and encrypted answers of the hrss connector, one of them for an element not asked.
        by_code = {a.code: a for a in real.answers}
        unasked.append(by_code["person.si_contribution_base"].jws_jwe or "")
        return SourceReply(
            correlation_id=request.message_id,
            source="hrss",
            answers=[
                by_code["person.si_status"],
                ElementAnswer(code="person.employer_name", status="failed", reason="source_unavailable"),
                # Never asked for: must not be passed on.
                by_code["person.si_contribution_base"],
            ],
        )

    serve(embedded, "hrss", request=_more, reply=_partial)
    response = ask(
        "zjj",
        embedded.subjects.demo_person,
        ["person.si_status", "person.employer_name", "person.si_months_paid"],
    )
    results = response.json()["results"]
    assert [(r["code"], r["status"], r["reason"]) for r in results] == [
        ("person.si_status", "ok", None),
        ("person.employer_name", "unavailable", "source_unavailable"),
        ("person.si_months_paid", "unavailable", "source_unavailable"),
    ]
    assert unasked[0] and unasked[0] not in response.text


def test_not_found_where_a_source_has_no_record(
    client: TestClient, ask: Any, embedded: Embedded, register: Any
) -> None:
    subject = embedded.subjects.person_only_in_psb
    assert register("hrss", "si_insured", subject) is None
    response = ask("zjj", subject, ["person.name", "person.si_status", "person.si_months_paid"])
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "partial"
    values = open_response(client, embedded, response, subject)
    assert values["person.name"]["value"] == register("psb", "hukou_person", subject)["name"]
    for code in ("person.si_status", "person.si_months_paid"):
        assert _result(response, code) == {
            "code": code,
            "status": "not_found",
            "reason": "not_found",
            "source": "hrss",
            "jwe": None,
            **NOT_DISPUTED,
        }


def test_not_found_for_a_valid_but_unknown_person(ask: Any, embedded: Embedded, register: Any) -> None:
    subject = embedded.subjects.unknown_person
    assert register("psb", "hukou_person", subject) is None
    response = ask("zjj", subject, ["person.name", "person.household_members", "person.si_status"])
    assert response.status_code == 200
    assert [(r["status"], r["reason"]) for r in response.json()["results"]] == [
        ("not_found", "not_found")
    ] * 3


# --- conflict ----------------------------------------------------------------------------------------


def test_the_same_query_id_with_another_body_is_conflict(
    client: TestClient, embedded: Embedded, body: Callable[..., dict[str, Any]]
) -> None:
    first = body(embedded.subjects.demo_person, ["person.name"], query_id="q-reused-0001")
    assert client.post("/v1/queries", json=first).status_code == 200
    changes = {
        "elements": lambda b: b.update(elements=["person.name", "person.registered_address"]),
        "subject": lambda b: b["subject"].update(id=embedded.subjects.person_only_in_psb),
        "case_no": lambda b: b["purpose"].update(case_no="CASE-OTHER"),
    }
    for change in changes.values():
        second = copy.deepcopy(first)
        change(second)
        problem = _assert_problem(client.post("/v1/queries", json=second), 409, "conflict")
        assert "q-reused-0001" in problem["detail"]


def test_query_ids_are_per_consumer(client: TestClient, embedded: Embedded, body: Any) -> None:
    zjj = body(embedded.subjects.demo_person, ["person.name"], query_id="q-shared-0001")
    xzsp = body(embedded.subjects.demo_person, ["person.gender"], item=SOLE_TRADER, query_id="q-shared-0001")
    assert client.post("/v1/queries", json=zjj).status_code == 200
    response = client.post("/v1/queries", json=xzsp, headers=as_department(client, embedded, "xzsp"))
    assert response.status_code == 200
    assert response.json()["results"][0]["code"] == "person.gender"


# --- audit_unavailable ---------------------------------------------------------------------------------


def _break_audit_store(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_entry BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    conn.commit()


def test_audit_unavailable_releases_nothing(
    client: TestClient,
    embedded: Embedded,
    body: Callable[..., dict[str, Any]],
    gateway_db: Any,
    register: Any,
    household: Any,
) -> None:
    subject = embedded.subjects.demo_person
    conn = gateway_db()
    _break_audit_store(conn)
    query = body(
        subject, ["person.name", "person.household_members", "person.si_status"], query_id="q-audit-down"
    )
    response = client.post("/v1/queries", json=query)
    problem = _assert_problem(response, 503, "audit_unavailable")
    assert set(problem) == {"type", "title", "status", "detail", "instance", "reason"}
    psb_row = register("psb", "hukou_person", subject)
    for secret in (psb_row["name"], psb_row["registered_address"], *(m["name"] for m in household(subject))):
        assert secret not in response.text
    assert register("hrss", "si_insured", subject)["insurance_status"] not in response.text
    # Nothing was recorded either: no idempotency record that could replay an unaudited answer.
    assert conn.execute("SELECT COUNT(*) FROM query_record").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM audit_entry").fetchone()[0] == 0

    # Once the store is back, the same query (same query_id) is answered and audited.
    conn.execute("DROP TRIGGER audit_down")
    conn.commit()
    response = client.post("/v1/queries", json=query)
    assert response.status_code == 200
    values = open_response(client, embedded, response, embedded.subjects.demo_person)
    assert values["person.name"]["value"] == psb_row["name"]
    assert [r["action"] for r in _audit(conn, "q-audit-down")][-1] == "query.released"


def test_audit_unavailable_also_stops_refusals_and_replays_silently_passing(
    client: TestClient, embedded: Embedded, body: Callable[..., dict[str, Any]], gateway_db: Any
) -> None:
    query = body(embedded.subjects.demo_person, ["person.name"], query_id="q-replay-audit-down")
    assert client.post("/v1/queries", json=query).status_code == 200
    _break_audit_store(gateway_db())
    # A replay is audited too, so it is not released while the audit store is down.
    response = client.post("/v1/queries", json=query)
    _assert_problem(response, 503, "audit_unavailable")
    assert "value" not in response.text
