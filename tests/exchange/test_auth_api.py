"""Client authentication through HTTP: the token endpoint, published keys, scopes, every route protected,
client systems and key rotation in the registry API, rate limits, body limits and request freshness."""

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from connectors.client_auth import generate_key, make_assertion, public_part
from exchange.auth.fastapi import assert_all_protected, include_protected, is_public
from exchange.settings import GatewaySettings
from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import bearer, register_test_system, steward_headers, token_form, token_with_key

PROBLEM = "application/problem+json"
TOKEN_URL = "http://testserver/oauth/token"


def _denials(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    sql = (
        "SELECT action, actor_department, reason FROM audit_entry"
        " WHERE decision = 'deny' AND request_id IS NULL"
    )
    rows = conn.execute(f"{sql} ORDER BY seq")
    return [tuple(r) for r in rows]


def test_a_sample_system_gets_a_token_with_its_key_file(client: TestClient, embedded: Embedded) -> None:
    key = embedded.system_keys["zjj-housing"]
    assertion = make_assertion(key, client_id="zjj-housing", audience=TOKEN_URL)
    response = client.post("/oauth/token", data=token_form(assertion), headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert set(body["scope"].split()) == {"query", "corrections", "events", "registry:read"}
    assert response.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    # The same assertion again is a replay (RFC 7523 §3: jti single use), refused and audited.
    again = client.post("/oauth/token", data=token_form(assertion), headers={"Authorization": ""})
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    assert "already used" in again.json()["detail"]


@pytest.mark.parametrize(
    "form,status,error",
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        (
            {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
            401,
            "invalid_client",
        ),
        ({"client_id": "xzsp-approval"}, 401, "invalid_client"),
        ({"scope": "registry:write"}, 400, "invalid_scope"),
        ({"scope": "query nonsense"}, 400, "invalid_scope"),
        ({"client_assertion": "x" * 9000}, 422, None),
    ],
    ids=["grant", "assertion type", "client_id mismatch", "scope not granted", "unknown scope", "too long"],
)
def test_token_endpoint_refusals(
    client: TestClient, embedded: Embedded, form: dict[str, str], status: int, error: str | None
) -> None:
    assertion = make_assertion(
        embedded.system_keys["zjj-housing"], client_id="zjj-housing", audience=TOKEN_URL
    )
    response = client.post("/oauth/token", data=token_form(assertion) | form, headers={"Authorization": ""})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json().get("error") == error


def test_jwks_and_metadata_are_public(client: TestClient) -> None:
    jwks = client.get("/.well-known/jwks.json", headers={"Authorization": ""}).json()
    assert [k["kty"] for k in jwks["keys"]] == ["OKP"] and "d" not in jwks["keys"][0]
    meta = client.get("/.well-known/oauth-authorization-server", headers={"Authorization": ""}).json()
    assert meta["token_endpoint"] == TOKEN_URL
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert meta["grant_types_supported"] == ["client_credentials"]


def test_every_route_outside_the_allow_list_needs_a_token(client: TestClient, embedded: Embedded) -> None:
    checked = 0
    for route in iter_route_contexts(embedded.app.routes):
        if not isinstance(route.original_route, APIRoute) or is_public(route.path):
            continue
        path = route.path.replace("{", "").replace("}", "")  # any value: auth comes before lookups
        for method in route.methods - {"HEAD"}:
            response = client.request(method, path, headers={"Authorization": ""})
            assert response.status_code == 401, (method, route.path, response.text)
            assert response.json()["reason"] == "unauthenticated"
            checked += 1
    assert checked >= 15


def test_an_app_with_an_unprotected_route_refuses_to_start() -> None:
    app = FastAPI()
    safe, careless = APIRouter(), APIRouter()

    @safe.get("/v1/safe")
    def _safe() -> dict[str, str]:
        return {}

    @careless.get("/v1/careless")
    def _careless() -> dict[str, str]:
        return {}

    include_protected(app, safe)
    assert_all_protected(app)
    app.include_router(careless)  # added by accident without the helper
    with pytest.raises(RuntimeError, match="/v1/careless"):
        assert_all_protected(app)


def test_registry_reads_and_writes_need_their_scopes(client: TestClient, embedded: Embedded) -> None:
    zjj = bearer(client, embedded.system_keys["zjj-housing"], "zjj-housing")  # registry:read only
    assert client.get("/v1/elements", headers=zjj).status_code == 200
    refused = client.post("/v1/departments", json={"code": "abc", "name": "x"}, headers=zjj)
    assert refused.status_code == 403 and refused.json()["reason"] == "insufficient_scope"
    query_only = bearer(client, embedded.system_keys["zjj-housing"], "zjj-housing", scope="query")
    assert client.get("/v1/elements", headers=query_only).json()["reason"] == "insufficient_scope"
    # A steward's token (registry:write and registry:steward) may create a department.
    steward = steward_headers(client)
    assert (
        client.post("/v1/departments", json={"code": "dsj", "name": "大数据局"}, headers=steward).status_code
        == 201
    )


def test_systems_are_registered_rotated_revoked_and_disabled_through_the_api(client: TestClient) -> None:
    old, new = generate_key(kid="k-2026-01"), generate_key(kid="k-2026-07", curve="P-256")
    created = client.post(
        "/v1/systems",
        json={
            "client_id": "zjj-archive",
            "department": "zjj",
            "name": "档案系统",
            "scopes": ["query"],
            "keys": [{"jwk": public_part(old)}],
        },
    )
    assert created.status_code == 201, created.text
    assert [k["kid"] for k in created.json()["keys"]] == ["k-2026-01"]
    assert "d" not in created.json()["keys"][0]["jwk"]
    token_with_key(client, old, "zjj-archive")
    # Rotation: register the new key, switch, revoke the old one.
    assert client.post("/v1/systems/zjj-archive/keys", json={"jwk": public_part(new)}).status_code == 201
    old_token = token_with_key(client, old, "zjj-archive")
    token_with_key(client, new, "zjj-archive")
    revoked = client.post("/v1/systems/zjj-archive/keys/k-2026-01/revoke")
    assert revoked.json()["keys"][0]["revoked_at"] is not None
    assertion = make_assertion(old, client_id="zjj-archive", audience=TOKEN_URL)
    assert client.post("/oauth/token", data=token_form(assertion)).json()["error"] == "invalid_client"
    # A token obtained with the revoked key dies with it, at once.
    refused = client.get("/v1/queries-nope", headers={"Authorization": f"Bearer {old_token}"})
    assert refused.status_code in (401, 404)
    probe = client.post("/v1/queries", json={}, headers={"Authorization": f"Bearer {old_token}"})
    assert probe.status_code == 401 and "revoked" in probe.json()["detail"]
    # Disabling stops the new key's token too.
    new_token = {"Authorization": f"Bearer {token_with_key(client, new, 'zjj-archive')}"}
    assert client.patch("/v1/systems/zjj-archive", json={"status": "disabled"}).status_code == 200
    assert client.post("/v1/queries", json={}, headers=new_token).json()["reason"] == "client_disabled"


@pytest.mark.parametrize(
    "jwk,why",
    [
        ({"kty": "RSA", "crv": "Ed25519", "x": "A" * 43, "kid": "k1"}, "an RSA key"),
        ({"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}, "a shared secret"),
        ({"kty": "OKP", "crv": "P-256", "x": "A" * 43, "kid": "k1"}, "a curve of another type"),
        ("private", "a private key"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "A" * 43, "kid": "bad kid!"}, "a bad kid"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_only_public_ed25519_or_p256_keys_can_be_registered(client: TestClient, jwk: Any, why: str) -> None:
    if jwk == "private":
        jwk = generate_key()
    response = client.post(
        "/v1/systems",
        json={"client_id": "zjj-other", "department": "zjj", "name": "x", "keys": [{"jwk": jwk}]},
    )
    assert response.status_code == 422, why
    assert client.get("/v1/systems/zjj-other").status_code == 404


def test_rate_limit_is_429_with_retry_after_and_audited(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    embedded, client = gateway_with(rate_limit_per_s=0.5, rate_limit_burst=3)
    statuses = [client.get("/v1/departments").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/v1/departments")
    assert limited.headers["content-type"] == PROBLEM and limited.json()["reason"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    # Another client has its own bucket.
    other = bearer(client, embedded.system_keys["xzsp-approval"], "xzsp-approval")
    assert client.get("/v1/departments", headers=other).status_code == 200
    assert ("request.denied", "zjj", "rate_limited") in _denials(gateway_db())


def test_the_token_endpoint_has_its_own_rate_limit_and_audits_it(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    # A system hammering /oauth/token (each time with a fresh, valid assertion) is limited per system,
    # in a bucket apart from its API calls, and every refusal is on the audit chain.
    embedded, client = gateway_with(rate_limit_per_s=0.5, rate_limit_burst=3)
    key = embedded.system_keys["xzsp-approval"]

    def ask() -> Any:
        assertion = make_assertion(key, client_id="xzsp-approval", audience=TOKEN_URL)
        return client.post("/oauth/token", data=token_form(assertion))

    statuses = [ask().status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = ask()
    assert limited.headers["content-type"] == PROBLEM and limited.json()["reason"] == "rate_limited"
    assert "access_token" not in limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    assert ("token.denied", "xzsp", "rate_limited") in _denials(gateway_db())
    # The API bucket of the default test system is untouched by another system's token requests.
    assert client.get("/v1/departments").status_code == 200


def test_an_oversized_body_is_413_before_it_is_parsed(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    _, client = gateway_with(max_body_bytes=2048)
    big = b'{"query_id": "' + b"x" * 4096 + b'"}'
    response = client.post("/v1/queries", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["reason"] == "invalid_request"

    def _chunks() -> Any:  # no Content-Length: counted as it streams
        for _ in range(10):
            yield b" " * 512

    streamed = client.post("/v1/queries", content=_chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    lying = client.post("/v1/queries", content=b"{}", headers={"Content-Length": "abc"})
    assert lying.status_code == 400
    assert _denials(gateway_db()).count(("request.denied", "anonymous", "invalid_request")) >= 2


def test_a_catalogue_import_has_its_own_larger_limit(
    gateway_with: Callable[..., tuple[Embedded, TestClient]],
) -> None:
    _, client = gateway_with(max_body_bytes=2048, max_import_bytes=8192)
    document = b'{"elements": [], "service_items": [], "padding": "' + b"x" * 4096 + b'"}'
    headers = {"Content-Type": "application/json"}
    # Past the general limit but within the import's: it reaches the route (which wants a steward).
    within = client.post("/v1/catalogue/import", content=document, headers=headers)
    assert within.status_code != 413 and within.json()["reason"] != "invalid_request", within.text
    assert client.post("/v1/queries", content=document, headers=headers).status_code == 413
    huge = client.post("/v1/catalogue/import", content=document * 3, headers=headers)
    assert huge.status_code == 413 and huge.json()["reason"] == "invalid_request"


def _fresh_body(embedded: Embedded, requested_at: str, query_id: str = "q-fresh-0001") -> dict[str, Any]:
    return {
        "query_id": query_id,
        "subject": {"type": "person", "id": embedded.subjects.demo_person},
        "elements": ["person.name"],
        "purpose": {"service_item": "330100-GZF-001", "case_no": "ZJJ-1"},
        "on_behalf_of": "wang.fang",
        "requested_at": requested_at,
    }


@pytest.mark.parametrize("offset_s", [-301, 301, -86400])
def test_a_request_outside_the_freshness_window_is_refused(
    client: TestClient, embedded: Embedded, offset_s: int
) -> None:
    moment = (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()
    response = client.post("/v1/queries", json=_fresh_body(embedded, moment))
    assert response.status_code == 400 and response.json()["reason"] == "invalid_request"
    assert "requested_at" in response.json()["detail"]


def test_requested_at_needs_a_time_zone_and_is_not_part_of_the_idempotency_key(
    client: TestClient, embedded: Embedded
) -> None:
    naive = datetime.now(UTC).replace(tzinfo=None).isoformat()
    assert client.post("/v1/queries", json=_fresh_body(embedded, naive)).status_code == 422
    first = client.post("/v1/queries", json=_fresh_body(embedded, datetime.now(UTC).isoformat()))
    retry = client.post("/v1/queries", json=_fresh_body(embedded, (datetime.now(UTC)).isoformat()))
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    changed = _fresh_body(embedded, datetime.now(UTC).isoformat()) | {"elements": ["person.gender"]}
    assert client.post("/v1/queries", json=changed).status_code == 409


def test_a_production_gateway_needs_its_public_url() -> None:
    with pytest.raises(ValueError, match="SHUYUAN_PUBLIC_URL"):
        GatewaySettings(
            environment="production",
            token_signing_key="t" * 40,  # type: ignore[arg-type]
            request_signing_key="r" * 40,  # type: ignore[arg-type]
            blind_index_key="b" * 40,  # type: ignore[arg-type]
            sealing_key="s" * 40,  # type: ignore[arg-type]
            audit={"path": "kafka"},  # type: ignore[arg-type]
        )


def test_with_a_public_url_the_host_header_does_not_choose_the_audience(tmp_path: Any) -> None:
    settings = GatewaySettings(
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
        transport="memory",
        public_url="https://exchange.gov.test",
    )
    embedded = build_embedded(tmp_path, settings=settings)
    with TestClient(embedded.app) as client:
        key = register_test_system(embedded.state.engine, client_id="zjj-public", department="zjj")
        local = make_assertion(key, client_id="zjj-public", audience=TOKEN_URL)
        assert client.post("/oauth/token", data=token_form(local)).json()["error"] == "invalid_client"
        proper = make_assertion(key, client_id="zjj-public", audience="https://exchange.gov.test/oauth/token")
        token = client.post("/oauth/token", data=token_form(proper)).json()["access_token"]
        assert client.get("/v1/departments", headers={"Authorization": f"Bearer {token}"}).status_code == 200
