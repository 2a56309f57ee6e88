"""Sharing agreements: request -> approve | reject -> revoke | expire, deadlines in working days, overdue."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from registry.actors import Actor
from registry.agreements import service as agreements
from registry.agreements.deadlines import add_working_days
from registry.agreements.models import AgreementCreate
from registry.db import unit_of_work
from registry.settings import RegistrySettings
from shuyuan.sample_catalogue import AGREEMENTS
from tests.registrykit import STEWARD, as_dept, registry_client

HOUSING = "330100-GZF-001"
RECORDING_STEWARD = Actor(name="steward-li", steward=True)  # only a steward records an approved agreement


def request_body(**overrides: Any) -> dict[str, Any]:
    """xzsp asks for hrss's conditional contribution base, for a food licence item that needs it."""
    now = datetime.now(UTC)
    return {
        "consumer": "xzsp",
        "element": "person.si_contribution_base",
        "service_item": "TEST-SI-1",
        "legal_basis": "《测试条例》第三条",
        "valid_from": now.isoformat(),
        "valid_until": (now + timedelta(days=90)).isoformat(),
    } | overrides


def add_item(
    api: TestClient, code: str = "TEST-SI-1", elements: tuple[str, ...] = ("person.si_contribution_base",)
) -> None:
    body = {
        "code": code,
        "name": "测试事项",
        "handling_department": "xzsp",
        "materials": [{"name": "收入证明", "elements": list(elements)}],
    }
    assert api.post("/v1/service-items", json=body, headers=STEWARD).status_code == 201


def test_working_days_skip_weekends_and_configured_holidays() -> None:
    friday = datetime(2026, 10, 2, 9, 0, tzinfo=UTC)  # 17:00 in Beijing, a Friday
    due = add_working_days(friday, 10)
    assert due == datetime(2026, 10, 16, 15, 59, 59, tzinfo=UTC)  # end of Friday 16 Oct, Beijing time
    holidays = {date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 7)}
    assert add_working_days(friday, 10, holidays).date() == date(2026, 10, 21)
    late_sunday_utc = datetime(2026, 10, 4, 17, 0, tzinfo=UTC)  # already Monday 01:00 in Beijing
    assert add_working_days(late_sunday_utc, 1).date() == date(2026, 10, 6)


def test_request_then_the_source_approves_within_the_deadline(api: TestClient) -> None:
    add_item(api)
    requested = api.post("/v1/agreements", json=request_body(), headers=as_dept("xzsp", "zhao"))
    assert requested.status_code == 201, requested.text
    body = requested.json()
    assert (body["status"], body["source"], body["requested_by"], body["overdue"]) == (
        "requested",
        "hrss",
        "zhao@xzsp",
        False,
    )
    assert datetime.fromisoformat(body["decision_due"]) > datetime.now(UTC) + timedelta(days=13)
    duplicate = api.post("/v1/agreements", json=request_body(), headers=as_dept("xzsp"))
    assert (duplicate.status_code, duplicate.json()["reason"]) == (409, "conflict")
    path = f"/v1/agreements/{body['id']}"
    assert api.post(f"{path}/approve", json={}, headers=as_dept("xzsp")).json()["reason"] == "forbidden"
    narrower = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    approved = api.post(
        f"{path}/approve", json={"reason": "符合条件", "valid_until": narrower}, headers=as_dept("hrss")
    )
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "clerk@hrss")
    assert approved.json()["valid_until"].startswith(narrower[:19])
    assert (
        api.post(f"{path}/reject", json={"reason": "x"}, headers=STEWARD).json()["reason"] == "invalid_state"
    )
    revoked = api.post(f"{path}/revoke", json={"reason": "用途变更"}, headers=as_dept("hrss"))
    assert (revoked.json()["status"], revoked.json()["revoke_reason"]) == ("revoked", "用途变更")
    assert (
        api.post(f"{path}/revoke", json={"reason": "again"}, headers=STEWARD).json()["reason"]
        == "invalid_state"
    )


def test_a_rejection_needs_a_reason(api: TestClient) -> None:
    add_item(api)
    agreement_id = api.post("/v1/agreements", json=request_body(), headers=as_dept("xzsp")).json()["id"]
    assert (
        api.post(f"/v1/agreements/{agreement_id}/reject", json={"reason": ""}, headers=STEWARD).status_code
        == 422
    )
    rejected = api.post(f"/v1/agreements/{agreement_id}/reject", json={"reason": "依据不足"}, headers=STEWARD)
    assert (rejected.json()["status"], rejected.json()["decision_reason"]) == ("rejected", "依据不足")


def test_unconditional_not_shared_and_unneeded_elements_get_no_agreement(api: TestClient) -> None:
    add_item(api, elements=("person.si_contribution_base", "person.name", "person.criminal_record"))
    cases = [
        ({"element": "person.name"}, "agreement_not_needed"),
        ({"element": "person.criminal_record"}, "not_shared"),
        ({"element": "person.si_months_paid"}, "not_necessary_for_purpose"),
        ({"service_item": "NOPE-1"}, "not_found"),
        (
            {"valid_until": datetime.now(UTC).isoformat(), "valid_from": "2020-01-01T00:00:00+00:00"},
            "invalid_request",
        ),
    ]
    for overrides, reason in cases:
        response = api.post("/v1/agreements", json=request_body(**overrides), headers=as_dept("xzsp"))
        assert response.json()["reason"] == reason, (overrides, response.text)
    naive = api.post(
        "/v1/agreements", json=request_body(valid_from="2026-01-01T00:00:00"), headers=as_dept("xzsp")
    )
    assert naive.status_code == 422
    # None of them was created: xzsp holds only the sample's agreements.
    seeded = sum(consumer == "xzsp" for consumer, *_ in AGREEMENTS)
    assert api.get("/v1/agreements", params={"consumer": "xzsp"}).json()["total"] == seeded


def test_approved_agreements_expire_automatically_and_at_read_time(registry_engine: Engine) -> None:
    now = datetime.now(UTC)
    with unit_of_work(registry_engine) as session:
        body = AgreementCreate.model_validate(
            request_body(consumer="xzsp", element="person.si_months_paid", service_item=HOUSING)
            | {"valid_until": (now + timedelta(hours=1)).isoformat(), "status": "approved"}
        )
        agreement_id = agreements.create(session=session, agreement_in=body, actor=RECORDING_STEWARD).id
    with unit_of_work(registry_engine) as session:
        assert agreements.expire_due(session=session, now=now) == []
        expired = agreements.expire_due(session=session, now=now + timedelta(hours=2))
        assert [a.id for a in expired] == [agreement_id]
    with registry_client(registry_engine) as (api, seen):
        assert api.get(f"/v1/agreements/{agreement_id}").json()["status"] == "expired"
    # The sample's agreements run for a year: reading now expires nothing and announces nothing.
    assert seen == []


def test_read_time_expiry_is_announced(registry_engine: Engine) -> None:
    now = datetime.now(UTC)
    with unit_of_work(registry_engine) as session:
        body = AgreementCreate.model_validate(
            request_body(consumer="xzsp", element="person.si_months_paid", service_item=HOUSING)
            | {
                "valid_from": (now - timedelta(days=2)).isoformat(),
                "valid_until": (now - timedelta(days=1)).isoformat(),
                "status": "approved",
            }
        )
        agreements.create(session=session, agreement_in=body, actor=RECORDING_STEWARD)
    with registry_client(registry_engine) as (api, seen):
        listed = api.get("/v1/agreements", params={"status": "expired"}).json()
        assert listed["total"] == 1
    assert [e.type for e in seen] == ["agreement.expired"]


def test_overdue_requests_are_listed_with_a_configurable_deadline(registry_engine: Engine) -> None:
    with registry_client(registry_engine, RegistrySettings(decision_working_days=1)) as (api, _seen):
        add_item(api)
        agreement_id = api.post("/v1/agreements", json=request_body(), headers=as_dept("xzsp")).json()["id"]
        due = datetime.fromisoformat(api.get(f"/v1/agreements/{agreement_id}").json()["decision_due"])
        assert due < datetime.now(UTC) + timedelta(days=4)
        assert api.get("/v1/agreements/overdue").json() == []
    with unit_of_work(registry_engine) as session:
        late = agreements.overdue(session=session, now=due + timedelta(seconds=1))
        assert [a.id for a in late] == [agreement_id]
        listed = agreements.to_read(session=session, agreement=late[0], now=due + timedelta(seconds=1))
        assert listed.overdue is True
