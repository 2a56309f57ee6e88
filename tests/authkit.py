"""Test helpers for client authentication: forge assertions and tokens, fetch real tokens.

Not a conftest: imported by the auth, security and integration tests that need them.
"""

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import JWKRegistry, OctKey

from connectors.client_auth import ASSERTION_TYPE, generate_key, make_assertion, public_part, read_key_file
from shuyuan.app import app_state

TOKEN_PATH = "/oauth/token"


def b64(data: dict[str, Any]) -> str:
    """base64url of a JSON object, unpadded."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWT with no signature (`alg: none` attacks)."""
    return f"{b64(header)}.{b64(claims)}."


def hs256_with_public_key(public_jwk: dict[str, Any], header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Key confusion: an HS256 JWT whose HMAC secret is the victim's public key."""
    secret = OctKey.import_key(json.dumps(public_jwk, sort_keys=True).encode())
    return jwt.encode({**header, "alg": "HS256"}, claims, secret, algorithms=["HS256"])


def signed(private_jwk: dict[str, Any], header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWT signed with any private JWK and arbitrary header and claims."""
    key = JWKRegistry.import_key(private_jwk)
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def assertion_claims(client_id: str, audience: str, **overrides: Any) -> dict[str, Any]:
    """Valid client-assertion claims, with overrides."""
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": uuid.uuid4().hex, "iat": now}
    return claims | {"exp": now + 60} | overrides


def token_form(assertion: str, **extra: str) -> dict[str, str]:
    """The token endpoint's form for a client assertion."""
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }


def fetch_token(client: Any, key_file: Path, client_id: str, *, scope: str | None = None) -> str:
    """A real access token from the app's token endpoint (TestClient base http://testserver)."""
    base = str(client.base_url).rstrip("/")
    assertion = make_assertion(read_key_file(key_file), client_id=client_id, audience=f"{base}{TOKEN_PATH}")
    form = token_form(assertion, **({"scope": scope} if scope else {}))
    response = client.post(TOKEN_PATH, data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def now_iso() -> str:
    """requested_at for a query body: now, RFC 3339 with offset."""
    return datetime.now(UTC).isoformat()


def register_test_system(
    engine: Any, *, client_id: str, department: str, scopes: list[str] | None = None
) -> dict[str, Any]:
    """Register (or give a new key to) a system of a department, straight in the registry; its private JWK."""
    from registry.actors import Actor
    from registry.db import unit_of_work
    from registry.systems import service as systems
    from registry.systems.models import SCOPES, KeyCreate, PublicJwk, SystemCreate

    key = generate_key()
    key_in = KeyCreate(jwk=PublicJwk.model_validate(public_part(key)))
    setup = Actor(name="test-setup", steward=True)  # test setup: a steward grants whatever the test needs
    with unit_of_work(engine) as session:
        system = systems.get_by_client_id(session=session, client_id=client_id)
        if system is None:
            system_in = SystemCreate(
                client_id=client_id,
                department=department,
                name=f"test system {client_id}",
                # Every scope but the steward's: a department's system is not a data steward.
                scopes=list(scopes if scopes is not None else [s for s in SCOPES if s != "registry:steward"]),  # type: ignore[arg-type]
                keys=[key_in],
            )
            systems.create(session=session, system_in=system_in, actor=setup)
        else:
            systems.add_key(session=session, system=system, key_in=key_in, actor=setup)
    return key


def token_with_key(
    client: Any, private_jwk: dict[str, Any], client_id: str, *, scope: str | None = None
) -> str:
    """A real access token from the app's token endpoint, for a private JWK held in memory."""
    base = str(client.base_url).rstrip("/")
    assertion = make_assertion(private_jwk, client_id=client_id, audience=f"{base}{TOKEN_PATH}")
    response = client.post(TOKEN_PATH, data=token_form(assertion, **({"scope": scope} if scope else {})))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(
    client: Any, private_jwk: dict[str, Any], client_id: str, *, scope: str | None = None
) -> dict[str, str]:
    """Authorization headers of a system, cached per test client (tokens live for minutes)."""
    cache = client.__dict__.setdefault("_shuyuan_tokens", {})
    key = (client_id, scope, private_jwk.get("kid"))
    if key not in cache:
        cache[key] = token_with_key(client, private_jwk, client_id, scope=scope)
    return {"Authorization": f"Bearer {cache[key]}"}


def authorize(
    client: Any, *, client_id: str = "zjj-test", department: str = "zjj", scopes: list[str] | None = None
) -> None:
    """Make a started TestClient send a test system's token (every scope but the steward's by default)."""
    engine = app_state(client.app).engine
    key = register_test_system(engine, client_id=client_id, department=department, scopes=scopes)
    client.headers["Authorization"] = bearer(client, key, client_id)["Authorization"]


STEWARD_CLIENT = "steward-test"


def steward_headers(client: Any, *, department: str = "xzsp") -> dict[str, str]:
    """Authorization headers of a data steward's system (scope `registry:steward`, granted in setup)."""
    scopes = ["registry:read", "registry:write", "registry:steward"]
    engine = app_state(client.app).engine
    cache = client.__dict__.setdefault("_shuyuan_steward_key", {})
    if "key" not in cache:
        cache["key"] = register_test_system(
            engine, client_id=STEWARD_CLIENT, department=department, scopes=scopes
        )
    return bearer(client, cache["key"], STEWARD_CLIENT)
