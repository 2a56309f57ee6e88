"""Consent over the real broker and database: a consent-bound element waits (the source is not asked),
the subject approves with their ID token, and the gateway asks the real connector at once; the
department opens the answer with its SDK."""

import sqlite3

import pytest
from fastapi.testclient import TestClient

from exchange.audit.settings import AuditSettings
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.authkit import steward_headers
from tests.exchange.test_transparency_oidc import IdP
from tests.integration.conftest import World

pytestmark = pytest.mark.integration
ELEMENT = "person.si_months_paid"


def test_a_consent_bound_element_is_asked_of_the_real_source_once_the_subject_approves(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp = IdP(world.data_dir)
    for name, value in idp.env().items():
        monkeypatch.setenv(name, value)
    person = world.subjects.demo_person
    with TestClient(world.gateway(audit=AuditSettings(path="direct"))) as client:
        marked = client.patch(
            f"/v1/elements/{ELEMENT}",
            json={"consent_required": True, "reason": "个人信息保护法 第二十九条"},
            headers=steward_headers(client, department=world.dept("xzsp")),
        )
        assert marked.status_code == 200, marked.text
        world.start_connector("psb")
        world.start_connector("hrss")
        zjj = world.consumer(client)
        first = zjj.query(
            subject_type="person",
            subject_id=person,
            elements=["person.name", ELEMENT],
            service_item=HOUSING_ITEM,
            case_no="ZJJ-2026-000777",
            on_behalf_of="wang.fang",
        )
        name, waiting = first.results
        assert name.status == "ok" and (waiting.status, waiting.consent_id is not None) == (
            "pending_consent",
            True,
        )
        cid = waiting.consent_id
        signed_in = {"Authorization": f"Bearer {idp.token(id_number=person)}"}
        [request] = client.get("/v1/transparency/consents", headers=signed_in).json()
        assert (request["id"], request["department"]) == (cid, world.dept("zjj"))
        approved = client.post(
            f"/v1/transparency/consents/{cid}", json={"decision": "approve"}, headers=signed_in
        )
        assert approved.status_code == 200, approved.text
        seen = client.get(
            f"/v1/consents/{cid}", headers={"Authorization": f"Bearer {world.system_token(client, 'zjj')}"}
        )
        assert seen.json()["state"] == "approved", seen.text
        opened = zjj.open(seen.json()["answer"], subject_type="person", subject_id=person)
    with sqlite3.connect(world.data_dir / "hrss.sqlite") as db:
        [(months,)] = db.execute(
            "SELECT months_paid FROM si_insured WHERE resident_id = ?", (person,)
        ).fetchall()
    assert opened.status == "complete" and opened.values() == {ELEMENT: months}
