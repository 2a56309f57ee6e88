"""Registry administration is least privilege (issue 9, item 1), attacked through real access tokens.

A system of 住建局 (zjj) holding `registry:read registry:write` and no steward scope tries to administer
other departments, grant itself powers and decide its own requests. Every attempt must be `403
forbidden`, change nothing (read back), and leave a `request.denied` record with reason `forbidden`
on the audit chain. The same operations succeed for a steward's token and for zjj on its own objects.
"""

import time
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.client_auth import generate_key, public_part
from shuyuan.app import app_state
from shuyuan.embedded import Embedded
from tests.authkit import bearer, register_test_system, steward_headers, token_with_key

A_CLIENT = "zjj-admin"
B_SYSTEM = "psb-hukou"  # a sample system of 公安局 (psb), the other department
CONDITIONAL = "person.si_months_paid"  # hrss is its source; zjj's sample agreement is agreement 2
HOUSING = "330100-GZF-001"


@dataclass
class World:
    """The exchange, department A's token (zjj) and a steward's token."""

    client: TestClient
    embedded: Embedded
    a: dict[str, str]
    steward: dict[str, str]

    def denials(self, system: str = A_CLIENT) -> list[str]:
        """Reasons of the `request.denied` records of a system, oldest first (the chain, not a log)."""
        engine = app_state(self.client.app).engine  # type: ignore[arg-type]
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT reason FROM audit_entry WHERE action = 'request.denied' AND actor_system = ?"
                " ORDER BY seq",
                (system,),
            )
            return [r[0] for r in rows]

    def refused(self, response: Any, *, system: str = A_CLIENT, before: int | None = None) -> None:
        """403 forbidden, and one more `forbidden` denial of this system on the audit chain."""
        assert response.status_code == 403, response.text
        assert response.json()["reason"] == "forbidden", response.text
        seen = self.denials(system)
        assert seen and seen[-1] == "forbidden"
        if before is not None:
            assert len(seen) == before + 1


@pytest.fixture
def world(client: TestClient, embedded: Embedded) -> World:
    engine = app_state(client.app).engine  # type: ignore[arg-type]
    key = register_test_system(
        engine, client_id=A_CLIENT, department="zjj", scopes=["registry:read", "registry:write"]
    )
    return World(client, embedded, bearer(client, key, A_CLIENT), steward_headers(client))


def _public_key() -> tuple[dict[str, Any], dict[str, Any]]:
    private = generate_key()
    return private, public_part(private)


def _system(client_id: str, department: str, scopes: list[str], jwk: dict[str, Any] | None = None) -> dict:
    return {
        "client_id": client_id,
        "department": department,
        "name": f"system {client_id}",
        "scopes": scopes,
        "keys": [{"jwk": jwk}] if jwk else [],
    }


def _agreement(consumer: str = "zjj", **overrides: Any) -> dict[str, Any]:
    return {
        "consumer": consumer,
        "element": CONDITIONAL,
        "service_item": HOUSING,
        "legal_basis": "《公共租赁住房管理办法》第七条",
        "valid_from": "2026-01-01T00:00:00+08:00",
        "valid_until": "2099-01-01T00:00:00+08:00",
    } | overrides


# --- systems ---------------------------------------------------------------------------------------


def test_a_department_cannot_create_a_system_for_another_department(world: World) -> None:
    c = world.client
    for scopes in (["query"], ["registry:steward", "audit:read"]):
        world.refused(c.post("/v1/systems", json=_system("psb-evil", "psb", scopes), headers=world.a))
    assert c.get("/v1/systems/psb-evil", headers=world.a).status_code == 404
    assert world.denials().count("forbidden") == 2


@pytest.mark.parametrize("scope", ["registry:steward", "audit:read", "audit:read:all"])
def test_a_department_cannot_grant_steward_or_officer_powers_to_its_own_system(
    world: World, scope: str
) -> None:
    c = world.client
    world.refused(c.post("/v1/systems", json=_system("zjj-evil", "zjj", ["query", scope]), headers=world.a))
    assert c.get("/v1/systems/zjj-evil", headers=world.a).status_code == 404
    before = len(world.denials())
    patched = c.patch(f"/v1/systems/{A_CLIENT}", json={"scopes": ["registry:write", scope]}, headers=world.a)
    world.refused(patched, before=before)
    assert c.get(f"/v1/systems/{A_CLIENT}", headers=world.a).json()["scopes"] == [
        "registry:read",
        "registry:write",
    ]


def test_a_department_cannot_add_its_key_to_or_revoke_keys_of_another_departments_system(
    world: World,
) -> None:
    c = world.client
    keys_before = c.get(f"/v1/systems/{B_SYSTEM}", headers=world.a).json()["keys"]
    _, jwk = _public_key()
    world.refused(c.post(f"/v1/systems/{B_SYSTEM}/keys", json={"jwk": jwk}, headers=world.a))
    kid = keys_before[0]["kid"]
    world.refused(c.post(f"/v1/systems/{B_SYSTEM}/keys/{kid}/revoke", headers=world.a))
    world.refused(c.patch(f"/v1/systems/{B_SYSTEM}", json={"status": "disabled"}, headers=world.a))
    after = c.get(f"/v1/systems/{B_SYSTEM}", headers=world.a).json()
    assert after["keys"] == keys_before and after["status"] == "active"
    # B's system still works: its key was neither revoked nor joined by A's.
    b_key = world.embedded.system_keys[B_SYSTEM]
    assert token_with_key(c, b_key, B_SYSTEM)


def test_a_department_cannot_revoke_another_departments_keys(world: World) -> None:
    c = world.client
    keys = c.get("/v1/departments/psb/keys", headers=world.a).json()
    assert keys, "the sample registers psb's department keys"
    kid = keys[0]["kid"]
    world.refused(c.post(f"/v1/departments/psb/keys/{kid}/revoke", headers=world.a))
    after = c.get("/v1/departments/psb/keys", headers=world.a).json()
    assert [k["status"] for k in after] == [k["status"] for k in keys]
    world.refused(
        c.post("/v1/departments/psb/keys", json={"use": "sig", "jwk": keys[0]["jwk"]}, headers=world.a)
    )
    assert len(c.get("/v1/departments/psb/keys", headers=world.a).json()) == len(keys)


def test_a_department_manages_its_own_systems_and_keys(world: World) -> None:
    c = world.client
    private, jwk = _public_key()
    created = c.post(
        "/v1/systems", json=_system("zjj-new", "zjj", ["query", "registry:read"], jwk), headers=world.a
    )
    assert created.status_code == 201, created.text
    assert token_with_key(c, private, "zjj-new")  # the new system works
    _, second = _public_key()
    assert c.post("/v1/systems/zjj-new/keys", json={"jwk": second}, headers=world.a).status_code == 201
    revoked = c.post(f"/v1/systems/zjj-new/keys/{jwk['kid']}/revoke", headers=world.a)
    assert revoked.status_code == 200 and revoked.json()["keys"][0]["revoked_at"] is not None
    patched = c.patch("/v1/systems/zjj-new", json={"scopes": ["query"], "name": "新名称"}, headers=world.a)
    assert patched.status_code == 200 and patched.json()["scopes"] == ["query"]
    own_keys = c.get("/v1/departments/zjj/keys", headers=world.a).json()
    revoked_dept = c.post(f"/v1/departments/zjj/keys/{own_keys[0]['kid']}/revoke", headers=world.a)
    assert revoked_dept.status_code == 200 and revoked_dept.json()["status"] == "revoked"


def test_a_steward_grants_powers_and_manages_every_department(world: World) -> None:
    c = world.client
    _, jwk = _public_key()
    body = _system("psb-officer", "psb", ["audit:read"], jwk)
    assert c.post("/v1/systems", json=body, headers=world.steward).status_code == 201
    promoted = c.patch(
        f"/v1/systems/{A_CLIENT}",
        json={"scopes": ["registry:write", "registry:steward"]},
        headers=world.steward,
    )
    assert promoted.status_code == 200 and "registry:steward" in promoted.json()["scopes"]
    kid = c.get(f"/v1/systems/{B_SYSTEM}", headers=world.steward).json()["keys"][0]["kid"]
    assert c.post(f"/v1/systems/{B_SYSTEM}/keys/{kid}/revoke", headers=world.steward).status_code == 200
    dept_kid = c.get("/v1/departments/psb/keys", headers=world.steward).json()[0]["kid"]
    assert c.post(f"/v1/departments/psb/keys/{dept_kid}/revoke", headers=world.steward).status_code == 200


def test_a_system_holding_an_officer_scope_is_given_keys_by_a_steward_only(world: World) -> None:
    c = world.client
    _, jwk = _public_key()
    assert (
        c.post("/v1/systems", json=_system("zjj-officer", "zjj", ["audit:read"], jwk), headers=world.steward)
    ).status_code == 201
    _, mine = _public_key()
    # Its own department may not add a key to it: whoever holds that key would hold the officer's power.
    world.refused(c.post("/v1/systems/zjj-officer/keys", json={"jwk": mine}, headers=world.a))
    assert len(c.get("/v1/systems/zjj-officer", headers=world.a).json()["keys"]) == 1
    # ... but may revoke its key at once when it leaks.
    revoked = c.post(f"/v1/systems/zjj-officer/keys/{jwk['kid']}/revoke", headers=world.a)
    assert revoked.status_code == 200


# --- elements, agreements, departments, subscriptions, disputes --------------------------------------


def _element(code: str, source: str, name: str = "测试数据项") -> dict[str, Any]:
    return {
        "code": code,
        "name_zh": name,
        "name_en": f"{name} (test element {code})",
        "subject_type": "person",
        "source": source,
        "value_type": "string",
        "sensitivity": "internal",
        "sharing_type": "conditional",
    }


def test_a_department_registers_elements_only_as_their_source(world: World) -> None:
    c = world.client
    world.refused(c.post("/v1/elements", json=_element("person.zz_forged", "psb"), headers=world.a))
    assert c.get("/v1/elements/person.zz_forged", headers=world.a).status_code == 404
    own = c.post("/v1/elements", json=_element("person.zz_housing_note", "zjj"), headers=world.a)
    assert own.status_code == 201 and own.json()["source"] == "zjj"
    other = _element("person.zz_psb_note", "psb", name="户籍核查备注")
    by_steward = c.post("/v1/elements", json=other, headers=world.steward)
    assert by_steward.status_code == 201 and by_steward.json()["source"] == "psb"


def test_a_department_requests_agreements_only_as_consumer_and_never_records_one_approved(
    world: World,
) -> None:
    c = world.client
    total = c.get("/v1/agreements", headers=world.a).json()["total"]
    world.refused(c.post("/v1/agreements", json=_agreement("xzsp"), headers=world.a))
    world.refused(c.post("/v1/agreements", json=_agreement(status="approved"), headers=world.a))
    assert c.get("/v1/agreements", headers=world.a).json()["total"] == total
    recorded = c.post("/v1/agreements", json=_agreement("xzsp", status="approved"), headers=world.steward)
    assert recorded.status_code == 201 and recorded.json()["status"] == "approved"


def test_the_consumer_never_approves_its_own_request(world: World) -> None:
    c = world.client
    revoked = c.post("/v1/agreements/2/revoke", json={"reason": "重新申请"}, headers=world.steward)
    assert revoked.status_code == 200, revoked.text
    requested = c.post("/v1/agreements", json=_agreement(), headers=world.a)  # as the consumer: allowed
    assert requested.status_code == 201, requested.text
    path = f"/v1/agreements/{requested.json()['id']}"
    world.refused(c.post(f"{path}/approve", json={}, headers=world.a))
    world.refused(c.post(f"{path}/reject", json={"reason": "自己驳回"}, headers=world.a))
    assert c.get(path, headers=world.a).json()["status"] == "requested"
    # The source department (hrss) decides.
    source_key = register_test_system(
        app_state(c.app).engine,  # type: ignore[arg-type]
        client_id="hrss-admin",
        department="hrss",
        scopes=["registry:read", "registry:write"],
    )
    approved = c.post(f"{path}/approve", json={}, headers=bearer(c, source_key, "hrss-admin"))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"


def test_departments_are_created_by_a_steward_only(world: World) -> None:
    c = world.client
    body = {"code": "tyj", "name": "体育局"}
    world.refused(c.post("/v1/departments", json=body, headers=world.a))
    assert c.get("/v1/departments/tyj", headers=world.a).status_code == 404
    assert c.post("/v1/departments", json=body, headers=world.steward).status_code == 201


def test_subscriptions_are_a_stewards_operation(world: World) -> None:
    c = world.client
    mine = {"subscriber": "zjj", "source": "xzsp", "event_types": ["license.issued"]}
    world.refused(c.post("/v1/subscriptions", json=mine, headers=world.a))
    assert c.get("/v1/subscriptions", params={"subscriber": "zjj"}, headers=world.a).json()["total"] == 0
    created = c.post(
        "/v1/subscriptions",
        json={"subscriber": "hrss", "source": "xzsp", "event_types": ["license.issued"]},
        headers=world.steward,
    )
    assert created.status_code == 201, created.text
    path = f"/v1/subscriptions/{created.json()['id']}"
    world.refused(c.delete(path, headers=world.a))
    world.refused(c.put(path, json={"event_types": ["license.revoked"]}, headers=world.a))
    assert c.get(path, headers=world.a).json()["event_types"] == ["license.issued"]
    assert c.delete(path, headers=world.steward).status_code == 204


def test_a_dispute_is_settled_by_a_steward_only(world: World) -> None:
    c = world.client
    claim = c.post("/v1/elements", json=_element("person.name", "zjj"), headers=world.a)  # its own claim
    assert claim.status_code == 202, claim.text
    path = f"/v1/disputes/{claim.json()['id']}"
    world.refused(c.post(f"{path}/resolve", json={"resolution": "handover"}, headers=world.a))
    assert c.get(path, headers=world.a).json()["status"] == "open"
    assert c.get("/v1/elements/person.name", headers=world.a).json()["source"] == "psb"
    # Claiming for another department is refused like registering for it.
    world.refused(
        c.post(
            "/v1/elements/person.gender/claims", json={"department": "hrss", "reason": "x"}, headers=world.a
        )
    )
    kept = c.post(f"{path}/resolve", json={"resolution": "keep"}, headers=world.steward)
    assert kept.status_code == 200 and kept.json()["status"] == "resolved"


# --- the X-Actor headers -----------------------------------------------------------------------------


def test_actor_headers_grant_nothing_and_name_nobody(world: World) -> None:
    c = world.client
    forged = world.a | {"X-Actor": "steward-li", "X-Actor-Role": "steward", "X-Actor-Department": "psb"}
    world.refused(c.post("/v1/departments", json={"code": "tyj", "name": "体育局"}, headers=forged))
    world.refused(c.post("/v1/elements", json=_element("person.zz_forged", "psb"), headers=forged))
    created = c.post("/v1/elements", json=_element("person.zz_named", "zjj"), headers=forged)
    assert created.status_code == 201, created.text
    history = c.get("/v1/elements/person.zz_named/history", headers=world.a).json()["items"]
    assert history[0]["actor"] == f"system:{A_CLIENT}@zjj"
    engine = app_state(c.app).engine  # type: ignore[arg-type]
    rows: list[Any] = []
    for _ in range(100):  # the change record follows the commit on the event loop
        with engine.connect() as conn:
            rows = list(
                conn.exec_driver_sql(
                    "SELECT actor_department, actor_system, actor_user FROM audit_entry"
                    " WHERE action LIKE 'registry.%' AND actor_system = ?",
                    (A_CLIENT,),
                )
            )
        if rows:
            break
        time.sleep(0.05)
    assert rows and all(tuple(r) == ("zjj", A_CLIENT, None) for r in rows)
    with engine.connect() as conn:
        named = conn.exec_driver_sql("SELECT count(*) FROM audit_entry WHERE actor_user = 'steward-li'")
        assert named.scalar() == 0


# --- audit:read is scoped ----------------------------------------------------------------------------


def _officer(world: World, client_id: str, scopes: list[str]) -> dict[str, str]:
    """A zjj system with audit scopes, granted through the API by the steward; its headers."""
    private, jwk = _public_key()
    body = _system(client_id, "zjj", scopes, jwk)
    assert world.client.post("/v1/systems", json=body, headers=world.steward).status_code == 201
    return bearer(world.client, private, client_id)


def test_a_department_officer_reads_only_its_own_departments_records(world: World) -> None:
    c = world.client
    psb = bearer(c, world.embedded.system_keys[B_SYSTEM], B_SYSTEM)
    assert c.post("/v1/departments", json={"code": "x1", "name": "x"}, headers=psb).status_code == 403
    world.refused(c.post("/v1/departments", json={"code": "x1", "name": "x"}, headers=world.a))
    officer = _officer(world, "zjj-officer", ["audit:read"])
    platform = _officer(world, "platform-officer", ["audit:read", "audit:read:all"])
    everything = c.get("/v1/audit/records", params={"limit": 1000}, headers=platform).json()["records"]
    psb_seq = next(r["seq"] for r in everything if r["actor_department"] == "psb")
    own = c.get("/v1/audit/records", params={"limit": 1000}, headers=officer)
    assert own.status_code == 200
    assert own.json()["records"] and {r["actor_department"] for r in own.json()["records"]} == {"zjj"}
    for path, params in (
        ("/v1/audit/records", {"department": "psb"}),
        ("/v1/audit/export", {"department": "psb"}),
        ("/v1/audit/bundle", {"department": "psb"}),
        (f"/v1/audit/records/{psb_seq}/proof", {}),
    ):
        world.refused(c.get(path, params=params, headers=officer), system="zjj-officer")
    exported = c.get("/v1/audit/export", headers=officer).text.splitlines()
    assert all('"actor_department":"zjj"' in line.replace(" ", "") for line in exported)
    psb_records = c.get("/v1/audit/records", params={"department": "psb"}, headers=platform).json()["records"]
    assert psb_records and {r["actor_department"] for r in psb_records} == {"psb"}
