"""Hostile tokens and client assertions: every one is a clear 401/403, no server error, no data, audited.

Attacks: forged and garbage tokens, `alg: none`, key confusion (HS256 keyed with a public key),
tokens of the wrong audience or issuer, expired ones, tokens signed by a client key, tokens of a
revoked client key, and client assertions replayed, expired, unsigned, mis-addressed or signed with
a revoked or foreign key.
"""

import time
from collections.abc import Callable
from typing import Any

import pytest

from connectors.client_auth import generate_key, make_assertion, public_part
from tests.authkit import (
    assertion_claims,
    hs256_with_public_key,
    register_test_system,
    signed,
    token_form,
    token_with_key,
    unsigned,
)
from tests.security.conftest import Hostile

TOKEN_URL = "http://testserver/oauth/token"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "http://testserver",
        "aud": "urn:shuyuan:exchange",
        "sub": "zjj-housing",
        "client_id": "zjj-housing",
        "department": "zjj",
        "scope": "query",
        "jti": "forged-0001",
        "iat": now,
        "exp": now + 120,
    }
    return claims | overrides


def _gateway_key(h: Hostile) -> dict[str, Any]:
    # The real token key: forgeries below differ from a valid token in exactly one property.
    return h.embedded.state.auth.token_authority._key.as_dict(private=True)


def _head(h: Hostile, **overrides: Any) -> dict[str, Any]:
    return {"alg": "Ed25519", "typ": "at+jwt", "kid": _gateway_key(h)["kid"]} | overrides


def _cnf(h: Hostile) -> str:
    return str(h.embedded.system_keys["zjj-housing"]["kid"])


TOKENS: dict[str, Callable[[Hostile], str]] = {
    "garbage": lambda h: "not-a-token",
    "three dots of garbage": lambda h: "a.b.c",
    "alg none": lambda h: unsigned(_head(h, alg="none"), _claims(cnf_kid=_cnf(h))),
    "alg none, empty signature stripped": lambda h: unsigned(_head(h, alg="none"), _claims(cnf_kid=_cnf(h)))[
        :-1
    ],
    "key confusion: HS256 keyed with the gateway public key": lambda h: hs256_with_public_key(
        h.embedded.state.auth.token_authority.jwks()["keys"][0], _head(h), _claims(cnf_kid=_cnf(h))
    ),
    "signed by the client's own key": lambda h: signed(
        h.embedded.system_keys["zjj-housing"], _head(h), _claims(cnf_kid=_cnf(h))
    ),
    "signed by a stranger's key with the gateway kid": lambda h: signed(
        generate_key(kid=_gateway_key(h)["kid"]), _head(h), _claims(cnf_kid=_cnf(h))
    ),
    "wrong audience": lambda h: signed(_gateway_key(h), _head(h), _claims(aud="urn:other", cnf_kid=_cnf(h))),
    "wrong issuer": lambda h: signed(_gateway_key(h), _head(h), _claims(iss="https://evil", cnf_kid=_cnf(h))),
    "expired": lambda h: signed(
        _gateway_key(h),
        _head(h),
        _claims(iat=int(time.time()) - 900, exp=int(time.time()) - 300, cnf_kid=_cnf(h)),
    ),
    "not an access token (typ JWT)": lambda h: signed(
        _gateway_key(h), _head(h, typ="JWT"), _claims(cnf_kid=_cnf(h))
    ),
    "a client assertion as a bearer token": lambda h: make_assertion(
        h.embedded.system_keys["zjj-housing"], client_id="zjj-housing", audience=TOKEN_URL
    ),
    "oversized": lambda h: "e" * 9000 + ".a.b",
}


@pytest.mark.parametrize("make", TOKENS.values(), ids=TOKENS.keys())
def test_a_hostile_bearer_token_is_401_with_no_data_and_audited(hostile: Hostile, make: Any) -> None:
    before = len(hostile.denials())
    response = hostile.client.post(
        "/v1/queries", json=hostile.body(), headers={"Authorization": f"Bearer {make(hostile)}"}
    )
    hostile.refused(response, 401, "unauthenticated", before)


@pytest.mark.parametrize("scheme", ["Basic empqOnNlY3JldA==", "Bearer", "bearer  ", "Token abc", ""])
def test_other_authorization_schemes_are_401(hostile: Hostile, scheme: str) -> None:
    before = len(hostile.denials())
    response = hostile.client.post("/v1/queries", json=hostile.body(), headers={"Authorization": scheme})
    hostile.refused(response, 401, "unauthenticated", before)


def test_a_token_of_a_revoked_client_key_is_refused_at_once(hostile: Hostile) -> None:
    engine = hostile.embedded.state.engine
    key = register_test_system(engine, client_id="zjj-revoked", department="zjj", scopes=["query"])
    token = {"Authorization": f"Bearer {token_with_key(hostile.client, key, 'zjj-revoked')}"}
    assert (
        hostile.client.post(
            "/v1/queries", json=hostile.body(query_id="q-before-revoke"), headers=token
        ).status_code
        == 200
    )
    revoked = hostile.client.post(f"/v1/systems/zjj-revoked/keys/{key['kid']}/revoke")
    assert revoked.status_code == 200
    before = len(hostile.denials())
    response = hostile.client.post("/v1/queries", json=hostile.body(query_id="q-after-revoke"), headers=token)
    hostile.refused(response, 401, "unauthenticated", before)
    before += 1
    assertion = make_assertion(key, client_id="zjj-revoked", audience=TOKEN_URL)
    hostile.refused(
        hostile.client.post("/oauth/token", data=token_form(assertion)), 401, "unauthenticated", before
    )


def _assertion(h: Hostile, **claims: Any) -> dict[str, Any]:
    return assertion_claims("zjj-housing", TOKEN_URL, **claims)


def _zjj(h: Hostile) -> dict[str, Any]:
    return h.embedded.system_keys["zjj-housing"]


def _kid(h: Hostile) -> dict[str, Any]:
    return {"alg": "Ed25519", "kid": _zjj(h)["kid"]}


ASSERTIONS: dict[str, Callable[[Hostile], str]] = {
    "alg none": lambda h: unsigned({**_kid(h), "alg": "none"}, _assertion(h)),
    "key confusion: HS256 keyed with the client public key": lambda h: hs256_with_public_key(
        public_part(_zjj(h)), _kid(h), _assertion(h)
    ),
    "RS256 name on an Ed25519 key": lambda h: unsigned({**_kid(h), "alg": "RS256"}, _assertion(h)) + "AAAA",
    "wrong audience": lambda h: signed(_zjj(h), _kid(h), _assertion(h, aud="https://other.example/token")),
    "expired": lambda h: signed(
        _zjj(h), _kid(h), _assertion(h, iat=int(time.time()) - 900, exp=int(time.time()) - 300)
    ),
    "a year long": lambda h: signed(_zjj(h), _kid(h), _assertion(h, exp=int(time.time()) + 365 * 86400)),
    "sub differs from iss": lambda h: signed(_zjj(h), _kid(h), _assertion(h, sub="xzsp-approval")),
    "claims another client": lambda h: signed(_zjj(h), _kid(h), assertion_claims("xzsp-approval", TOKEN_URL)),
    "signed by a stranger with the client's kid": lambda h: signed(generate_key(), _kid(h), _assertion(h)),
    "no jti": lambda h: signed(_zjj(h), _kid(h), {k: v for k, v in _assertion(h).items() if k != "jti"}),
    "injection in iss": lambda h: signed(_zjj(h), _kid(h), assertion_claims("' OR 1=1 --", TOKEN_URL)),
    "garbage": lambda h: "garbage",
}


@pytest.mark.parametrize("make", ASSERTIONS.values(), ids=ASSERTIONS.keys())
def test_a_hostile_client_assertion_gets_no_token_and_is_audited(hostile: Hostile, make: Any) -> None:
    before = len(hostile.denials())
    response = hostile.client.post(
        "/oauth/token", data=token_form(make(hostile)), headers={"Authorization": ""}
    )
    hostile.refused(response, 401, "unauthenticated", before)
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.text


def test_a_replayed_client_assertion_is_refused_and_audited(hostile: Hostile) -> None:
    assertion = make_assertion(_zjj(hostile), client_id="zjj-housing", audience=TOKEN_URL)
    assert hostile.client.post("/oauth/token", data=token_form(assertion)).status_code == 200
    before = len(hostile.denials())
    replay = hostile.client.post("/oauth/token", data=token_form(assertion))
    hostile.refused(replay, 401, "unauthenticated", before)
    assert hostile.denials()[-1] == ("token.denied", "unauthenticated")
