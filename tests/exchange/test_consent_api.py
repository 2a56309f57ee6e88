"""Consent (单独同意) on the embedded exchange: an element marked `consent_required` waits for the
subject; the citizen answers with their ID token; on approval the department gets the answer; refusals,
expiry, someone who is not the subject, another department: each a reason code, audited, nothing released."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from connectors.client import ConsumerClient
from exchange.audit.models import AuditEntry
from exchange.consent.models import ConsentRequest
from shuyuan.embedded import build_embedded
from tests.authkit import authorize, steward_headers
from tests.exchange.conftest import as_department, query_body
from tests.exchange.test_transparency_api import Gateway, citizen
from tests.exchange.test_transparency_oidc import IdP

CONSENT = "/v1/transparency/consents"


@pytest.fixture
def transparency_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The embedded exchange trusting a local OpenID Connect provider (the citizen signs in there)."""
    idp = IdP(tmp_path)
    for name, value in idp.env().items():
        monkeypatch.setenv(name, value)
    embedded = build_embedded(tmp_path / "exchange")
    with TestClient(embedded.app) as client:
        authorize(client)  # department calls: a test system of zjj with every scope
        yield embedded, client, idp


ELEMENT = "person.si_months_paid"


def mark_consent_required(client: Any) -> None:
    """A steward marks the element as needing the subject's consent (the registry's own API)."""
    response = client.patch(
        f"/v1/elements/{ELEMENT}",
        json={"consent_required": True, "reason": "个人信息保护法 第二十九条: 单独同意"},
        headers=steward_headers(client),
    )
    assert response.status_code == 200, response.text
    assert response.json()["consent_required"] is True


def ask(client: Any, person: str, case_no: str = "ZJJ-2026-000200") -> dict[str, Any]:
    """zjj asks name and the consent-bound element for a housing case; the answer's body."""
    body = query_body(person, ["person.name", ELEMENT], case_no=case_no)
    response = client.post("/v1/queries", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def actions(embedded: Any, consent_id: str) -> list[tuple[str, str | None, str | None]]:
    """(action, actor, reason) of a consent request's audit records."""
    with embedded.state.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.action, AuditEntry.actor_department, AuditEntry.reason)
            .where(AuditEntry.request_id == f"consent:{consent_id}")  # type: ignore[arg-type]
            .order_by(AuditEntry.seq)  # type: ignore[arg-type]
        ).all()
    return [(r.action, r.actor_department, r.reason) for r in rows]


def test_an_element_waits_for_consent_and_is_answered_once_the_subject_approves(
    transparency_gateway: Gateway,
) -> None:
    embedded, client, idp = transparency_gateway
    mark_consent_required(client)
    me, other = embedded.subjects.demo_person, embedded.subjects.all_persons[1]
    out = ask(client, me)
    name, waiting = out["results"]
    assert name["status"] == "ok" and out["status"] == "partial"
    assert (waiting["status"], waiting["reason"], waiting["jwe"]) == (
        "pending_consent",
        "pending_consent",
        None,
    )
    cid = waiting["consent_id"]

    # The citizen sees who asks what, for which service item and case.
    [request] = client.get(CONSENT, headers=citizen(idp, me)).json()
    assert (request["id"], request["department"], request["elements"], request["state"]) == (
        cid,
        "zjj",
        [ELEMENT],
        "pending",
    )
    assert (
        request["department_name"] and request["element_names"][0] and request["case_no"] == "ZJJ-2026-000200"
    )
    assert client.get(CONSENT, headers=citizen(idp, other)).json() == []  # nobody else sees it

    # Someone else cannot answer it; the department sees it still pending, no answer.
    refused = client.post(f"{CONSENT}/{cid}", json={"decision": "approve"}, headers=citizen(idp, other))
    assert (refused.status_code, refused.json()["reason"]) == (403, "not_the_subject")
    assert client.get(f"/v1/consents/{cid}").json()["state"] == "pending"

    approved = client.post(f"{CONSENT}/{cid}", json={"decision": "approve"}, headers=citizen(idp, me))
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    seen = client.get(f"/v1/consents/{cid}").json()
    assert seen["state"] == "approved" and seen["query_id"] == out["query_id"]
    [result] = seen["answer"]["results"]
    assert result["status"] == "ok" and result["jwe"]
    # The department's SDK opens it: signed by the source, encrypted to zjj (not the test system's key).
    zjj = ConsumerClient(client, keys=embedded.keys["zjj"])
    opened = zjj.open(seen["answer"], subject_type="person", subject_id=me)
    assert opened.status == "complete" and isinstance(opened.values()[ELEMENT], int)

    # The same case again: the approval holds; another case asks again.
    again = ask(client, me)
    assert [r["status"] for r in again["results"]] == ["ok", "ok"]
    other_case = ask(client, me, case_no="ZJJ-2026-000201")
    assert other_case["results"][1]["status"] == "pending_consent"

    twice = client.post(f"{CONSENT}/{cid}", json={"decision": "refuse"}, headers=citizen(idp, me))
    assert (twice.status_code, twice.json()["reason"]) == (409, "consent_already_answered")
    assert actions(embedded, cid) == [
        ("consent.requested", "zjj", None),
        ("consent.denied", "citizen", "not_the_subject"),
        ("consent.approved", "citizen", None),
        ("consent.denied", "citizen", "consent_already_answered"),
    ]


def test_a_refusal_and_an_expiry_release_nothing_and_are_audited(transparency_gateway: Gateway) -> None:
    embedded, client, idp = transparency_gateway
    mark_consent_required(client)
    me = embedded.subjects.demo_person
    first = ask(client, me)["results"][1]["consent_id"]
    refused = client.post(f"{CONSENT}/{first}", json={"decision": "refuse"}, headers=citizen(idp, me))
    assert refused.json()["state"] == "refused"
    seen = client.get(f"/v1/consents/{first}").json()
    assert (seen["state"], seen["answer"]) == ("refused", None)
    assert ask(client, me)["results"][1]["status"] == "pending_consent"  # asked again: a new request

    late = ask(client, me, case_no="ZJJ-2026-000300")["results"][1]["consent_id"]
    with embedded.state.engine.begin() as conn:  # a week later
        conn.execute(
            update(ConsentRequest)
            .where(ConsentRequest.id == late)  # type: ignore[arg-type]
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    gone = client.post(f"{CONSENT}/{late}", json={"decision": "approve"}, headers=citizen(idp, me))
    assert (gone.status_code, gone.json()["reason"]) == (410, "consent_expired")
    assert client.get(f"/v1/consents/{late}").json()["state"] == "expired"
    assert [a for a, _, _ in actions(embedded, late)] == [
        "consent.requested",
        "consent.expired",
        "consent.denied",
    ]
    assert [a for a, _, _ in actions(embedded, first)] == ["consent.requested", "consent.refused"]


def test_only_the_asking_department_reads_its_consent_requests(transparency_gateway: Gateway) -> None:
    embedded, client, _ = transparency_gateway
    mark_consent_required(client)
    cid = ask(client, embedded.subjects.demo_person)["results"][1]["consent_id"]
    xzsp = as_department(client, embedded, "xzsp")
    assert client.get(f"/v1/consents/{cid}", headers=xzsp).status_code == 404
    assert client.get(CONSENT).status_code == 401  # no ID token: the department's token does not do
    no_token = client.post(f"{CONSENT}/{cid}", json={"decision": "approve"}, headers={"Authorization": ""})
    assert no_token.status_code == 401
