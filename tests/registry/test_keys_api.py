"""Department keys in the registry: register, list, rotate, revoke, and the gateway's key cache."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from sqlalchemy import Engine

from protocol.clock import utcnow
from protocol.jose import public_jwk, thumbprint
from registry.events import RegistryEvent
from registry.keys.directory import KeyDirectory, load_keys
from registry.state import RegistryState, state_of
from tests.registrykit import STEWARD, as_dept, registry_client


def _run(coroutine: Any) -> Any:
    """Run a coroutine on a fresh loop in a worker thread (a test elsewhere may leave a loop running here)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _jwk(crv: str = "X25519", **extra: Any) -> dict[str, Any]:
    key = OKPKey.generate_key(crv)
    return public_jwk(key, kid=thumbprint(key)) | extra


def _post(api: TestClient, dept: str, use: str, jwk: dict[str, Any], **fields: Any) -> Any:
    return api.post(
        f"/v1/departments/{dept}/keys", json={"use": use, "jwk": jwk, **fields}, headers=as_dept(dept)
    )


def test_a_department_registers_its_keys_and_they_are_listed_and_published(api: TestClient) -> None:
    sig, enc = _jwk("Ed25519"), _jwk("X25519")
    first = _post(api, "psb", "sig", sig)
    assert first.status_code == 201, first.text
    assert first.json() | {"not_before": None} == {
        "department": "psb",
        "kid": sig["kid"],
        "use": "sig",
        "jwk": sig | {"use": "sig"},
        "not_before": None,
        "not_after": None,
        "revoked_at": None,
        "status": "valid",
    }
    assert _post(api, "psb", "enc", enc).status_code == 201
    listed = api.get("/v1/departments/psb/keys").json()
    assert [(k["kid"], k["use"], k["status"]) for k in listed] == [
        (sig["kid"], "sig", "valid"),
        (enc["kid"], "enc", "valid"),
    ]
    jwks = api.get("/v1/departments/psb/jwks.json").json()
    assert jwks == {"keys": [sig | {"use": "sig"}, enc | {"use": "enc"}]}
    assert all("d" not in k for k in jwks["keys"])


@pytest.mark.parametrize(
    "use,jwk,fragment",
    [
        ("enc", {**OKPKey.generate_key("X25519").as_dict(private=True), "kid": "k1"}, "private key material"),
        ("enc", _jwk("Ed25519"), "X25519"),  # a signing key offered for encryption
        ("sig", _jwk("X25519"), "Ed25519"),
        ("enc", {k: v for k, v in _jwk().items() if k != "kid"}, "kid"),
        ("enc", _jwk(kid="bad kid with spaces"), "kid"),
        ("enc", _jwk(use="sig"), "contradicts"),
        ("enc", {"kty": "OKP", "crv": "X25519", "x": "@@not-base64@@", "kid": "k2"}, "not a usable JWK"),
        ("enc", {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "k3"}, "X25519"),
    ],
    ids=["private", "sig-as-enc", "enc-as-sig", "no-kid", "bad-kid", "use-mismatch", "garbage-x", "rsa"],
)
def test_unusable_keys_are_refused_and_nothing_is_stored(
    api: TestClient, use: str, jwk: dict[str, Any], fragment: str
) -> None:
    response = _post(api, "psb", use, jwk)
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == "invalid_request"
    assert fragment in response.json()["detail"]
    if "d" in jwk:
        assert jwk["d"] not in response.text  # never echoes a private parameter
    assert api.get("/v1/departments/psb/keys").json() == []


def test_validity_window_duplicates_unknown_departments_and_bad_paths(api: TestClient) -> None:
    now = utcnow()
    jwk = _jwk()
    bad_window = _post(
        api, "psb", "enc", jwk, not_before=now.isoformat(), not_after=(now - timedelta(days=1)).isoformat()
    )
    assert bad_window.status_code == 400 and "not_after" in bad_window.json()["detail"]
    naive = _post(api, "psb", "enc", jwk, not_before="2026-01-01T00:00:00")
    assert naive.status_code == 422 and naive.json()["reason"] == "invalid_request"
    assert _post(api, "psb", "enc", jwk).status_code == 201
    again = _post(api, "psb", "enc", jwk)
    assert again.status_code == 409 and again.json()["reason"] == "conflict"
    unknown = api.post("/v1/departments/nosuch/keys", json={"use": "enc", "jwk": _jwk()}, headers=STEWARD)
    assert unknown.status_code == 404 and unknown.json()["reason"] == "not_found"
    assert api.get("/v1/departments/nosuch/keys").status_code == 404
    assert api.get("/v1/departments/Bad-Code/keys").status_code == 422
    extra = api.post("/v1/departments/psb/keys", json={"use": "enc", "jwk": _jwk(), "x": 1}, headers=STEWARD)
    assert extra.status_code == 422


def test_only_the_department_or_a_steward_registers_and_revokes(api: TestClient) -> None:
    jwk = _jwk()
    foreign = api.post("/v1/departments/psb/keys", json={"use": "enc", "jwk": jwk}, headers=as_dept("hrss"))
    assert foreign.status_code == 403
    anonymous = api.post("/v1/departments/psb/keys", json={"use": "enc", "jwk": jwk})
    assert anonymous.status_code == 403
    assert api.get("/v1/departments/psb/keys").json() == []
    steward = api.post("/v1/departments/psb/keys", json={"use": "enc", "jwk": jwk}, headers=STEWARD)
    assert steward.status_code == 201
    revoke = api.post(f"/v1/departments/psb/keys/{jwk['kid']}/revoke", headers=as_dept("hrss"))
    assert revoke.status_code == 403
    assert api.get("/v1/departments/psb/keys").json()[0]["status"] == "valid"


def test_revocation_is_immediate_idempotent_and_announced(registry_engine: Engine) -> None:
    with registry_client(registry_engine) as (api, seen):
        jwk = _jwk()
        assert _post(api, "psb", "enc", jwk).status_code == 201
        first = api.post(f"/v1/departments/psb/keys/{jwk['kid']}/revoke", headers=as_dept("psb"))
        assert first.status_code == 200 and first.json()["status"] == "revoked"
        again = api.post(f"/v1/departments/psb/keys/{jwk['kid']}/revoke", headers=as_dept("psb"))
        assert again.json()["revoked_at"] == first.json()["revoked_at"]
        missing = api.post("/v1/departments/psb/keys/no-such-kid/revoke", headers=as_dept("psb"))
        assert missing.status_code == 404
        assert api.get("/v1/departments/psb/jwks.json").json() == {"keys": []}
        types = [(e.type, e.code) for e in seen if isinstance(e, RegistryEvent)]
        assert ("key.registered", f"psb/{jwk['kid']}") in types
        assert ("key.revoked", f"psb/{jwk['kid']}") in types


def test_rotation_keeps_several_keys_valid_and_the_newest_is_current(registry_engine: Engine) -> None:
    now = utcnow()
    old, new, future, expired = _jwk(), _jwk(), _jwk(), _jwk()
    with registry_client(registry_engine) as (api, _):
        _post(api, "hrss", "enc", old, not_before=(now - timedelta(days=30)).isoformat())
        _post(api, "hrss", "enc", new, not_before=(now - timedelta(days=1)).isoformat())
        _post(api, "hrss", "enc", future, not_before=(now + timedelta(days=5)).isoformat())
        _post(
            api,
            "hrss",
            "enc",
            expired,
            not_before=(now - timedelta(days=60)).isoformat(),
            not_after=(now - timedelta(days=31)).isoformat(),
        )
        statuses = {k["kid"]: k["status"] for k in api.get("/v1/departments/hrss/keys").json()}
    assert statuses == {
        old["kid"]: "valid",
        new["kid"]: "valid",
        future["kid"]: "pending",
        expired["kid"]: "expired",
    }
    snapshot = load_keys(registry_engine)
    assert [k.kid for k in snapshot.valid("hrss", "enc")] == [old["kid"], new["kid"]]
    current = snapshot.current("hrss", "enc")
    assert current is not None and current[0] == new["kid"]
    assert snapshot.find("hrss", "enc", old["kid"]) is not None  # still accepted during the overlap
    assert snapshot.find("hrss", "enc", future["kid"]) is None
    assert snapshot.current("zjj", "enc") is None and snapshot.current("hrss", "sig") is None


def test_the_key_directory_drops_a_revoked_key_at_the_next_read(
    registry_engine: Engine, tmp_path: Path
) -> None:
    jwk = _jwk()
    directory = KeyDirectory(registry_engine, max_age_s=3600)  # only invalidation can refresh it
    with registry_client(registry_engine) as (api, _):
        state_of(api.app, RegistryState).changes.subscribe(directory.invalidate)  # type: ignore[arg-type]
        _post(api, "amr", "enc", jwk)
        assert _run(directory.current()).current("amr", "enc") is not None
        api.post(f"/v1/departments/amr/keys/{jwk['kid']}/revoke", headers=as_dept("amr"))
        assert _run(directory.current()).current("amr", "enc") is None


def test_without_an_event_the_directory_refreshes_after_its_max_age(registry_engine: Engine) -> None:
    jwk = _jwk()
    directory = KeyDirectory(registry_engine, max_age_s=0.05)
    assert _run(directory.current()).current("amr", "enc") is None
    with registry_client(registry_engine) as (api, _):
        _post(api, "amr", "enc", jwk)  # written by "another instance": nobody invalidates this directory
    time.sleep(0.06)
    assert _run(directory.current()).current("amr", "enc") is not None
