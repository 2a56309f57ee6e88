"""Corrections (纠错) on the embedded exchange: real queries, filing checked against the audit chain,
the lifecycle, forwarding, refusals and their audit records."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from connectors.client import ConsumerClient
from connectors.corrections import file_correction, proposed_value_of
from exchange.audit.models import AuditEntry
from protocol.jose import JoseFailure
from shuyuan.embedded import Embedded
from tests.authkit import bearer, register_test_system
from tests.exchange.conftest import HOUSING, SOLE_TRADER, as_department, query_body

CORRECTIONS = "/v1/corrections"
STEWARD = "steward-corr"


def query(client: TestClient, embedded: Embedded, dept: str, person: str, elements: list[str]) -> str:
    """Run a real query as a department's sample system (zjj: housing, xzsp: sole trader); its id."""
    item = HOUSING if dept == "zjj" else SOLE_TRADER
    body = query_body(person, elements, item=item)
    response = client.post("/v1/queries", json=body, headers=as_department(client, embedded, dept))
    assert response.status_code == 200, response.text
    return str(body["query_id"])


def filing(person: str, query_id: str, element: str = "person.name", **extra: Any) -> dict[str, Any]:
    """A POST /v1/corrections body."""
    body = {
        "element": element,
        "subject": {"type": "person", "id": person},
        "query_id": query_id,
        "problem": "姓名与户口簿不一致",
        "evidence_ref": "ZJJ-2026-000123/附件3",
    }
    return body | extra


def sdk(client: TestClient, embedded: Embedded, dept: str) -> ConsumerClient:
    """A department's SDK on the test client, with its sample system's token."""
    token = as_department(client, embedded, dept)["Authorization"].removeprefix("Bearer ")
    return ConsumerClient(client, keys=embedded.keys[dept], auth=token)


def steward(client: TestClient, embedded: Embedded) -> dict[str, str]:
    """Authorization headers of a data steward's system holding the `corrections` scope."""
    cache = client.__dict__.setdefault("_corrections_steward", {})
    if "key" not in cache:
        cache["key"] = register_test_system(
            embedded.state.engine,
            client_id=STEWARD,
            department="xzsp",
            scopes=["corrections", "registry:read", "registry:steward"],
        )
    return bearer(client, cache["key"], STEWARD)


def move(client: TestClient, cid: str, headers: dict[str, str], to: str, **extra: Any) -> Any:
    """POST a transition."""
    return client.post(f"{CORRECTIONS}/{cid}/transitions", json={"to": to, **extra}, headers=headers)


def audit_rows(embedded: Embedded, action: str) -> list[Any]:
    """The chained audit records of one action."""
    with embedded.state.engine.connect() as conn:
        return conn.execute(select(AuditEntry).where(AuditEntry.action == action)).all()  # type: ignore[arg-type]


def filed(client: TestClient, embedded: Embedded, person: str | None = None) -> tuple[str, str]:
    """zjj queries person.name and files a correction of it; (correction id, subject id)."""
    person = person or embedded.subjects.demo_person
    qid = query(client, embedded, "zjj", person, ["person.name"])
    response = client.post(
        CORRECTIONS, json=filing(person, qid), headers=as_department(client, embedded, "zjj")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), person


def test_a_department_files_after_a_real_query_and_it_is_routed_to_the_source(
    client: TestClient, embedded: Embedded
) -> None:
    person = embedded.subjects.demo_person
    qid = query(client, embedded, "zjj", person, ["person.name", "person.gender"])
    zjj, psb, xzsp = (as_department(client, embedded, d) for d in ("zjj", "psb", "xzsp"))
    # The proposed value is encrypted to psb by zjj's SDK: the gateway passes it along, unread.
    body = file_correction(
        sdk(client, embedded, "zjj"),
        element="person.name",
        subject_type="person",
        subject_id=person,
        query_id=qid,
        problem="姓名与户口簿不一致",
        source="psb",
        proposed_value="张三",
        evidence_ref="ZJJ-2026-000123/附件3",
    )
    assert (body["state"], body["source"], body["filer"], body["open"]) == ("reported", "psb", "zjj", True)
    assert body["query_id"] == qid and not body["overdue"]
    assert body["take_up_due"] < body["close_due"]
    assert person not in str(body) and "张三" not in str(body)  # blind index; the value a JWE to psb
    cid = body["id"]
    with embedded.state.engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM correction")).one()
    assert "张三".encode() not in b"".join(str(v).encode() for v in stored)

    index = embedded.state.platform_keys.blind_index("person", person)
    [record] = audit_rows(embedded, "correction.filed")
    assert (record.actor_department, record.subject_index, record.source) == ("zjj", index, "psb")
    assert record.request_id == f"correction:{cid}" and record.elements == '["person.name"]'

    # The source sees it to fix, the filer as filed; another department does not see it at all.
    assert [
        c["id"] for c in client.get(CORRECTIONS, params={"role": "to_fix"}, headers=psb).json()["items"]
    ] == [cid]
    mine = client.get(CORRECTIONS, params={"role": "filed"}, headers=zjj).json()
    assert mine["total"] == 1 and mine["items"][0]["id"] == cid
    assert client.get(CORRECTIONS, params={"role": "to_fix"}, headers=zjj).json()["total"] == 0
    routed = client.get(f"{CORRECTIONS}/{cid}", headers=psb).json()
    assert proposed_value_of(sdk(client, embedded, "psb"), routed) == "张三"  # only psb opens it
    with pytest.raises(JoseFailure):
        proposed_value_of(sdk(client, embedded, "zjj"), routed)  # not even its filer
    assert client.get(f"{CORRECTIONS}/{cid}", headers=xzsp).status_code == 404
    assert client.get(CORRECTIONS, headers=xzsp).json()["total"] == 0
    # A steward sees every correction, but not the proposed value (personal data for filer and source).
    seen = client.get(f"{CORRECTIONS}/{cid}", headers=steward(client, embedded)).json()
    assert seen["id"] == cid and seen["proposed_value_jwe"] is None
    assert client.get(CORRECTIONS, headers=steward(client, embedded)).json()["total"] == 1
    # The same value again while the first is open: one is enough.
    again = client.post(CORRECTIONS, json=filing(person, qid), headers=zjj)
    assert (again.status_code, again.json()["reason"], again.json()["correction_id"]) == (
        409,
        "conflict",
        cid,
    )


def test_only_a_department_that_received_the_value_may_file(client: TestClient, embedded: Embedded) -> None:
    person, other = embedded.subjects.demo_person, embedded.subjects.all_persons[1]
    qid = query(client, embedded, "zjj", person, ["person.name"])
    zjj, xzsp = as_department(client, embedded, "zjj"), as_department(client, embedded, "xzsp")
    refused = [
        client.post(CORRECTIONS, json=filing(person, qid), headers=xzsp),  # another department's query
        client.post(CORRECTIONS, json=filing(other, qid), headers=zjj),  # another subject
        client.post(CORRECTIONS, json=filing(person, qid, "person.gender"), headers=zjj),  # not asked for
        client.post(CORRECTIONS, json=filing(person, "q-never-made-0001"), headers=zjj),
    ]
    for response in refused:
        assert (response.status_code, response.json()["reason"]) == (403, "not_received"), response.text
    rows = audit_rows(embedded, "correction.refused")
    assert [(r.actor_department, r.reason, r.decision) for r in rows] == [
        ("xzsp", "not_received", "deny"),
        ("zjj", "not_received", "deny"),
        ("zjj", "not_received", "deny"),
        ("zjj", "not_received", "deny"),
    ]
    assert rows[0].request_id == qid and rows[2].elements == '["person.gender"]'
    assert not [r for r in audit_rows(embedded, "request.denied") if r.reason == "not_received"]  # once
    assert audit_rows(embedded, "correction.filed") == []

    # A query whose element the policy denied delivered nothing to correct either.
    denied = query(client, embedded, "zjj", person, ["person.criminal_record"])
    response = client.post(CORRECTIONS, json=filing(person, denied, "person.criminal_record"), headers=zjj)
    assert response.json()["reason"] == "not_received"
    bad_id = client.post(CORRECTIONS, json=filing("110105198804190478", qid), headers=zjj)
    assert (bad_id.status_code, bad_id.json()["reason"]) == (400, "invalid_subject_id")
    too_long = client.post(CORRECTIONS, json=filing(person, qid, problem="x" * 2001), headers=zjj)
    assert (too_long.status_code, too_long.json()["reason"]) == (422, "invalid_request")
    file_not_ref = client.post(CORRECTIONS, json=filing(person, qid, evidence_ref="<script>"), headers=zjj)
    assert file_not_ref.status_code == 422
    no_scope = register_test_system(
        embedded.state.engine, client_id="zjj-query-only", department="zjj", scopes=["query"]
    )
    headers = bearer(client, no_scope, "zjj-query-only")
    response = client.post(CORRECTIONS, json=filing(person, qid), headers=headers)
    assert (response.status_code, response.json()["reason"]) == (403, "insufficient_scope")


def test_the_source_takes_it_up_and_fixes_it_and_bad_moves_are_refused(
    client: TestClient, embedded: Embedded
) -> None:
    cid, _ = filed(client, embedded)
    zjj, psb = as_department(client, embedded, "zjj"), as_department(client, embedded, "psb")
    forbidden = move(client, cid, zjj, "accepted")  # the filer cannot accept its own report
    assert (forbidden.status_code, forbidden.json()["reason"]) == (403, "forbidden")
    skipped = move(client, cid, psb, "fixed")  # reported -> fixed skips the take-up
    assert (skipped.status_code, skipped.json()["reason"]) == (409, "invalid_transition")
    no_reason = move(client, cid, psb, "rejected")
    assert (no_reason.status_code, no_reason.json()["reason"]) == (422, "invalid_request")

    accepted = move(client, cid, psb, "accepted")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted" and accepted.json()["accepted_at"]
    assert move(client, cid, psb, "in_progress").json()["state"] == "in_progress"
    done = move(client, cid, psb, "fixed", reason="户籍信息已更正")
    assert done.json()["state"] == "fixed" and done.json()["closed_at"] and not done.json()["open"]
    for to, who in (("accepted", psb), ("withdrawn", zjj), ("rejected", psb)):
        late = move(client, cid, who, to, reason="too late")
        assert (late.status_code, late.json()["reason"]) == (409, "invalid_transition"), to
    steps = [r.action for r in audit_rows_of(embedded, cid)]
    assert steps == ["correction.filed", "correction.accepted", "correction.in_progress", "correction.fixed"]
    unknown = move(client, "0" * 32, psb, "accepted")
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "not_found")


def audit_rows_of(embedded: Embedded, cid: str) -> list[Any]:
    """Every chained record of one correction, in chain order."""
    with embedded.state.engine.connect() as conn:
        stmt = select(AuditEntry).where(AuditEntry.request_id == f"correction:{cid}").order_by(AuditEntry.seq)  # type: ignore[arg-type]
        return conn.execute(stmt).all()  # type: ignore[call-overload]


def test_only_the_filer_withdraws_while_it_is_open(client: TestClient, embedded: Embedded) -> None:
    cid, _ = filed(client, embedded)
    zjj, psb = as_department(client, embedded, "zjj"), as_department(client, embedded, "psb")
    assert move(client, cid, psb, "accepted").status_code == 200
    by_source = move(client, cid, psb, "withdrawn")
    assert (by_source.status_code, by_source.json()["reason"]) == (403, "forbidden")
    withdrawn = move(client, cid, zjj, "withdrawn")
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    assert move(client, cid, zjj, "withdrawn").json()["reason"] == "invalid_transition"


def test_wrong_source_is_forwarded_by_a_steward_only(client: TestClient, embedded: Embedded) -> None:
    cid, _ = filed(client, embedded)
    zjj, psb, hrss = (as_department(client, embedded, d) for d in ("zjj", "psb", "hrss"))
    flagged = move(client, cid, psb, "wrong_source", reason="姓名以人社登记为准")
    assert flagged.json()["state"] == "wrong_source" and flagged.json()["open"]
    by_filer = move(client, cid, zjj, "reported", source="hrss", reason="forward")
    assert (by_filer.status_code, by_filer.json()["reason"]) == (403, "forbidden")
    nowhere = move(client, cid, steward(client, embedded), "reported", source="nosuch", reason="forward")
    assert (nowhere.status_code, nowhere.json()["reason"]) == (400, "invalid_request")
    no_source = move(client, cid, steward(client, embedded), "reported", reason="forward")
    assert no_source.status_code == 422

    forwarded = move(client, cid, steward(client, embedded), "reported", source="hrss", reason="由人社局核实")
    assert forwarded.status_code == 200, forwarded.text
    body = forwarded.json()
    assert (body["state"], body["source"], body["state_reason"]) == ("reported", "hrss", "由人社局核实")
    assert client.get(f"{CORRECTIONS}/{cid}", headers=psb).status_code == 404  # no longer psb's
    assert client.get(CORRECTIONS, params={"role": "to_fix"}, headers=hrss).json()["items"][0]["id"] == cid
    assert move(client, cid, hrss, "accepted").json()["state"] == "accepted"
    [record] = [r for r in audit_rows_of(embedded, cid) if r.action == "correction.forwarded"]
    assert (record.actor_department, record.actor_system, record.source) == ("xzsp", STEWARD, "hrss")


@pytest.mark.parametrize("path", ["/v1/corrections/not-an-id", "/v1/corrections/" + "g" * 32])
def test_a_malformed_id_is_refused(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.json()["reason"]) == (422, "invalid_request")
