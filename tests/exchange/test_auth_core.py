"""The authentication core without a web framework: RFC 7523 client assertions, RFC 9068 tokens."""

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OKPKey
from sqlalchemy import Engine, func, select

from connectors.client_auth import generate_key, make_assertion, public_part
from exchange.auth.core import (
    ClientDisabled,
    InvalidClient,
    InvalidToken,
    TokenAuthority,
    signing_key_from_seed,
    token_signing_keys,
)
from exchange.auth.models import UsedAssertion
from exchange.auth.store import AuthStore
from exchange.settings import DEV_PLATFORM_KEY
from protocol.errors import InvalidRequest
from registry import db
from registry.actors import Actor
from registry.departments import service as departments
from registry.departments.models import Department, DepartmentCreate
from registry.systems import service as systems
from registry.systems.models import KeyCreate, PublicJwk, SystemCreate, SystemUpdate
from tests.authkit import assertion_claims, hs256_with_public_key, signed, unsigned

ISSUER = "https://exchange.test"
TOKEN_URL = f"{ISSUER}/oauth/token"
CLIENT = "zjj-app"
STEWARD = Actor(name="test-setup", steward=True)  # registers the test's department and system
EXCHANGE_MIGRATIONS = Path(__file__).resolve().parents[2] / "exchange" / "migrations"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'auth.db'}")
    db.upgrade(engine)
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    yield engine
    engine.dispose()


@pytest.fixture
def keys() -> dict[str, dict[str, Any]]:
    return {"ed": generate_key(kid="ed-1"), "ec": generate_key(kid="ec-1", curve="P-256")}


@pytest.fixture
def authority(engine: Engine, keys: dict[str, dict[str, Any]]) -> TokenAuthority:
    with db.unit_of_work(engine) as session:
        departments.create(
            session=session, department_in=DepartmentCreate(code="zjj", name="住建局"), actor=STEWARD
        )
        system_in = SystemCreate(
            client_id=CLIENT,
            department="zjj",
            name="test system",
            scopes=["query", "registry:read"],
            keys=[KeyCreate(jwk=PublicJwk.model_validate(public_part(k))) for k in keys.values()],
        )
        systems.create(session=session, system_in=system_in, actor=STEWARD)
    return TokenAuthority(
        store=AuthStore(engine),
        signing_key=signing_key_from_seed(b"k" * 32),
        audience="urn:test",
        token_ttl_s=300,
    )


def _authenticate(authority: TokenAuthority, assertion: str) -> Any:
    return authority.authenticate_client(assertion, endpoint_urls=[TOKEN_URL, ISSUER])


def _token(authority: TokenAuthority, keys: dict[str, dict[str, Any]], scope: str | None = None) -> str:
    client, kid = _authenticate(authority, make_assertion(keys["ed"], client_id=CLIENT, audience=TOKEN_URL))
    return authority.issue(client, key_id=kid, issuer=ISSUER, scope=scope).access_token


@pytest.mark.parametrize("which", ["ed", "ec"])
def test_a_valid_assertion_gives_a_token_that_validates(
    authority: TokenAuthority, keys: dict[str, dict[str, Any]], which: str
) -> None:
    client, kid = _authenticate(authority, make_assertion(keys[which], client_id=CLIENT, audience=TOKEN_URL))
    assert (client.client_id, client.department, kid) == (CLIENT, "zjj", keys[which]["kid"])
    issued = authority.issue(client, key_id=kid, issuer=ISSUER, scope=None)
    assert issued.expires_in == 300 and issued.scope == "query registry:read"
    principal = authority.validate(issued.access_token, issuer=ISSUER)
    assert (principal.client_id, principal.department) == (CLIENT, "zjj")
    assert principal.scopes == {"query", "registry:read"}


def test_the_issuer_url_is_an_accepted_audience_too(authority: TokenAuthority, keys: dict) -> None:
    client, _ = _authenticate(authority, make_assertion(keys["ed"], client_id=CLIENT, audience=ISSUER))
    assert client.client_id == CLIENT


def _bad_assertions(keys: dict[str, dict[str, Any]]) -> dict[str, str]:
    ed = keys["ed"]
    head = {"alg": "Ed25519", "kid": "ed-1"}
    ok = assertion_claims(CLIENT, TOKEN_URL)
    now = int(time.time())
    stranger = generate_key(kid="ed-1")
    return {
        "alg none": unsigned({"alg": "none", "kid": "ed-1"}, ok),
        "key confusion HS256 with the public key": hs256_with_public_key(public_part(ed), head, ok),
        "RS-less alg name": unsigned({"alg": "RS256", "kid": "ed-1"}, ok) + "AAAA",
        "wrong audience": signed(ed, head, assertion_claims(CLIENT, "https://other.example/oauth/token")),
        "expired": signed(ed, head, assertion_claims(CLIENT, TOKEN_URL, iat=now - 600, exp=now - 120)),
        "lifetime too long": signed(ed, head, assertion_claims(CLIENT, TOKEN_URL, exp=now + 3600)),
        "sub is not iss": signed(ed, head, assertion_claims(CLIENT, TOKEN_URL, sub="someone-else")),
        "unknown client": signed(ed, head, assertion_claims("nobody-here", TOKEN_URL)),
        "unknown kid": signed(ed, {"alg": "Ed25519", "kid": "nope"}, ok),
        "signed by another key with the same kid": signed(stranger, head, ok),
        "no jti": signed(ed, head, {k: v for k, v in ok.items() if k != "jti"}),
        "no exp": signed(ed, head, {k: v for k, v in ok.items() if k != "exp"}),
        "EC key for an EdDSA alg": signed(ed, {"alg": "Ed25519", "kid": "ec-1"}, ok),
        "not a JWT": "garbage",
        "JWE-shaped": "a.b.c.d.e",
        "claims not an object": "eyJhbGciOiJFZDI1NTE5In0.WzFd.AAAA",
    }


def test_every_bad_assertion_is_invalid_client(authority: TokenAuthority, keys: dict) -> None:
    accepted = []
    for name, assertion in _bad_assertions(keys).items():
        try:
            _authenticate(authority, assertion)
        except InvalidClient as exc:
            assert exc.status == 401 and exc.extra["error"] == "invalid_client", name
        else:
            accepted.append(name)
    assert accepted == []


def test_an_assertion_is_accepted_once(authority: TokenAuthority, keys: dict, engine: Engine) -> None:
    assertion = make_assertion(keys["ed"], client_id=CLIENT, audience=TOKEN_URL)
    _authenticate(authority, assertion)
    with pytest.raises(InvalidClient, match="already used"):
        _authenticate(authority, assertion)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(UsedAssertion)).scalar_one() == 1


def test_expired_assertion_ids_are_purged(engine: Engine) -> None:
    store = AuthStore(engine)
    now = datetime.now(UTC)
    assert store.claim_assertion(CLIENT, "old-jti-0001", expires_at=now - timedelta(minutes=1))
    assert store.claim_assertion(CLIENT, "new-jti-0001", expires_at=now + timedelta(minutes=1))
    assert not store.claim_assertion(CLIENT, "new-jti-0001", expires_at=now + timedelta(minutes=1))
    assert store.purge_expired() == 1
    with engine.connect() as conn:
        assert conn.execute(select(UsedAssertion.jti)).scalars().all() == ["new-jti-0001"]


def test_a_revoked_key_stops_assertions_and_its_tokens(
    authority: TokenAuthority, keys: dict, engine: Engine
) -> None:
    token = _token(authority, keys)
    with db.unit_of_work(engine) as session:
        system = systems.get_by_client_id_or_raise(session=session, client_id=CLIENT)
        systems.revoke_key(session=session, system=system, kid="ed-1", actor=STEWARD)
    with pytest.raises(InvalidClient, match="unknown, expired or revoked"):
        _authenticate(authority, make_assertion(keys["ed"], client_id=CLIENT, audience=TOKEN_URL))
    with pytest.raises(InvalidToken, match="revoked"):
        authority.validate(token, issuer=ISSUER)
    # The other key of the rotation pair still works.
    _authenticate(authority, make_assertion(keys["ec"], client_id=CLIENT, audience=TOKEN_URL))


def test_a_key_outside_its_validity_window_is_refused(authority: TokenAuthority, engine: Engine) -> None:
    later = generate_key(kid="ed-later")
    with db.unit_of_work(engine) as session:
        system = systems.get_by_client_id_or_raise(session=session, client_id=CLIENT)
        key_in = KeyCreate(
            jwk=PublicJwk.model_validate(public_part(later)),
            valid_from=datetime.now(UTC) + timedelta(hours=1),
        )
        systems.add_key(session=session, system=system, key_in=key_in, actor=STEWARD)
    with pytest.raises(InvalidClient):
        _authenticate(authority, make_assertion(later, client_id=CLIENT, audience=TOKEN_URL))


@pytest.mark.parametrize("what", ["system", "department"])
def test_disabling_takes_effect_on_the_next_call(
    authority: TokenAuthority, keys: dict, engine: Engine, what: str
) -> None:
    token = _token(authority, keys)
    with db.unit_of_work(engine) as session:
        if what == "system":
            system = systems.get_by_client_id_or_raise(session=session, client_id=CLIENT)
            systems.update(
                session=session, system=system, system_in=SystemUpdate(status="disabled"), actor=STEWARD
            )
        else:
            dept = session.exec(select(Department).where(Department.code == "zjj")).one()  # type: ignore[call-overload]
            dept[0].status = "disabled"
    with pytest.raises(ClientDisabled) as refused:
        authority.validate(token, issuer=ISSUER)
    assert refused.value.status == 403 and refused.value.reason == "client_disabled"
    with pytest.raises(ClientDisabled):
        _authenticate(authority, make_assertion(keys["ed"], client_id=CLIENT, audience=TOKEN_URL))


def test_scopes_are_a_subset_of_the_granted_ones(authority: TokenAuthority, keys: dict) -> None:
    assert authority.validate(_token(authority, keys, scope="query"), issuer=ISSUER).scopes == {"query"}
    with pytest.raises(InvalidRequest) as refused:
        _token(authority, keys, scope="query registry:write")
    assert refused.value.extra["error"] == "invalid_scope"


def _bad_tokens(authority: TokenAuthority, keys: dict, good: str) -> dict[str, str]:
    gateway = authority._key.as_dict(private=True)
    head = {"alg": "Ed25519", "typ": "at+jwt", "kid": gateway["kid"]}
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "urn:test",
        "sub": CLIENT,
        "client_id": CLIENT,
        "department": "zjj",
        "scope": "query",
        "cnf_kid": "ed-1",
        "jti": "t-1",
        "iat": now,
        "exp": now + 60,
    }
    header, payload, signature = good.split(".")
    return {
        "tampered claims": f"{header}.{payload[:-4]}AAAA.{signature}",
        "alg none": unsigned({**head, "alg": "none"}, claims),
        "HS256 with the gateway public key": hs256_with_public_key(authority.jwks()["keys"][0], head, claims),
        "signed by a client key": signed(keys["ed"], head, claims),
        "wrong typ (an ID token or assertion)": signed(gateway, {**head, "typ": "JWT"}, claims),
        "wrong audience": signed(gateway, head, claims | {"aud": "urn:other"}),
        "wrong issuer": signed(gateway, head, claims | {"iss": "https://evil.example"}),
        "expired": signed(gateway, head, claims | {"iat": now - 900, "exp": now - 300}),
        "no client_id": signed(gateway, head, {k: v for k, v in claims.items() if k != "client_id"}),
        "unknown client": signed(gateway, head, claims | {"client_id": "ghost-client"}),
        "not a JWT": "abc",
    }


def test_every_bad_token_is_refused(authority: TokenAuthority, keys: dict) -> None:
    good = _token(authority, keys)
    assert authority.validate(good, issuer=ISSUER).client_id == CLIENT
    accepted = []
    for name, token in _bad_tokens(authority, keys, good).items():
        try:
            authority.validate(token, issuer=ISSUER)
        except InvalidToken as exc:
            assert exc.status == 401 and exc.reason == "unauthenticated", name
        else:
            accepted.append(name)
    assert accepted == []


def test_the_jwks_holds_only_the_public_token_key(authority: TokenAuthority) -> None:
    (key,) = authority.jwks()["keys"]
    assert "d" not in key and key["kty"] == "OKP" and key["alg"] == "Ed25519" and key["kid"]


def test_token_keys_rotate_the_first_signs_and_every_one_verifies(
    authority: TokenAuthority, engine: Engine, keys: dict[str, dict[str, Any]]
) -> None:
    old_token = _token(authority, keys)  # signed with the old key (b"k" * 32)
    old = signing_key_from_seed(b"k" * 32)
    new, *_ = token_signing_keys(["a new token signing secret of 32+ chars"])
    rotated = TokenAuthority(store=AuthStore(engine), signing_key=new, verify_keys=[old], audience="urn:test")
    assert {k["kid"] for k in rotated.jwks()["keys"]} == {new.kid, old.kid}
    assert rotated.validate(old_token, issuer=ISSUER).client_id == CLIENT  # during the overlap
    new_token = _token(rotated, keys)
    assert jws.extract_compact(new_token.encode()).protected["kid"] == new.kid
    retired = TokenAuthority(store=AuthStore(engine), signing_key=new, audience="urn:test")
    with pytest.raises(InvalidToken):
        retired.validate(old_token, issuer=ISSUER)  # the old key removed: its tokens are refused


def test_token_keys_from_secrets_and_files(tmp_path: Path) -> None:
    (from_dev,) = token_signing_keys([DEV_PLATFORM_KEY])
    # The development key is the one derived from the platform key before keys were separated.
    seed = hmac.new(DEV_PLATFORM_KEY.encode(), b"shuyuan/access-token-signing/v1", hashlib.sha256).digest()
    assert from_dev.kid == signing_key_from_seed(seed).kid
    made = OKPKey.generate_key("Ed25519")
    jwk_file, pem_file = tmp_path / "token.jwk", tmp_path / "token.pem"
    jwk_file.write_text(json.dumps(made.as_dict(private=True)))
    pem_file.write_bytes(made.as_pem(private=True))
    a, b = token_signing_keys([str(jwk_file), str(pem_file)])
    assert a.kid == b.kid == made.thumbprint()
    public_only = tmp_path / "public.jwk"
    public_only.write_text(json.dumps(made.as_dict(private=False)))
    with pytest.raises(ValueError, match="private Ed25519"):
        token_signing_keys([str(public_only)])
