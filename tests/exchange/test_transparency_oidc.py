"""Citizens' ID tokens: signature, algorithms, issuer, audience, times and the subject claim."""

import json
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from exchange.transparency.discovery import Discovery
from exchange.transparency.oidc import Citizen, IdTokenVerifier, JwksSource
from exchange.transparency.settings import TransparencySettings
from protocol.errors import Unauthenticated
from tests.authkit import hs256_with_public_key, unsigned

ISSUER = "https://idp.example.test"
AUDIENCE = "shuyuan-transparency"
PERSON = "11010519491231002X"  # a valid GB 11643 number (check character X)
USCC = "91350100M000100Y43"


class IdP:
    """A local OpenID Connect provider: a key pair, its JWKS file, and minted ID tokens."""

    def __init__(self, folder: Path, kid: str = "idp-1") -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)
        self.kid = kid
        self.jwks_file = folder / "jwks.json"
        self.jwks_file.write_text(json.dumps({"keys": [self.key.as_dict(private=False)]}))

    def env(self) -> dict[str, str]:
        """The gateway settings (as environment variables) that trust this provider."""
        return {
            "SHUYUAN_TRANSPARENCY_OIDC_ISSUER": ISSUER,
            "SHUYUAN_TRANSPARENCY_OIDC_AUDIENCE": AUDIENCE,
            "SHUYUAN_TRANSPARENCY_JWKS_FILE": str(self.jwks_file),
        }

    def settings(self) -> TransparencySettings:
        """The same, as a settings object."""
        return TransparencySettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, jwks_file=self.jwks_file)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid ID token claims of a person, with overrides (None removes a claim)."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "u-1",
            "iat": now,
            "exp": now + 300,
            "id_number": PERSON,
        }
        return {k: v for k, v in (claims | overrides).items() if v is not None}

    def token(self, key: Any = None, header: dict[str, Any] | None = None, **overrides: Any) -> str:
        """A signed ID token (by default with this provider's key)."""
        head = header or {"alg": "ES256", "kid": self.kid}
        return jwt.encode(head, self.claims(**overrides), key or self.key, algorithms=[head["alg"]])


@pytest.fixture
def idp(tmp_path: Path) -> IdP:
    """A provider with its JWKS in a local file."""
    return IdP(tmp_path)


def test_valid_tokens_name_a_person_or_an_enterprise(idp: IdP) -> None:
    verifier = IdTokenVerifier(idp.settings())
    assert verifier.verify(idp.token()) == Citizen("person", PERSON)
    # Lower-case check character and an audience list holding ours are accepted too.
    assert verifier.verify(idp.token(id_number=PERSON.lower(), aud=["other", AUDIENCE])).subject_id == PERSON
    assert verifier.verify(idp.token(id_number=None, uscc=USCC)) == Citizen("enterprise", USCC)


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_rs256_and_eddsa_providers_are_accepted(idp: IdP, tmp_path: Path) -> None:
    keys = [(RSAKey.generate_key(2048, private=True), "RS256")]
    keys += [(OKPKey.generate_key("Ed25519", private=True), alg) for alg in ("EdDSA", "Ed25519")]
    for key, alg in keys:
        jwks = tmp_path / f"{alg}.json"
        jwks.write_text(json.dumps({"keys": [{**key.as_dict(private=False), "kid": alg}]}))
        settings = TransparencySettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, jwks_file=jwks)
        claims = idp.claims(uscc=USCC, id_number=None)
        token = jwt.encode({"alg": alg, "kid": alg}, claims, key, algorithms=[alg])
        assert IdTokenVerifier(settings).verify(token) == Citizen("enterprise", USCC)


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://evil.example.test"},
        {"iss": None},
        {"aud": "someone-else"},
        {"aud": None},
        {"exp": int(time.time()) - 3600},
        {"exp": None},
        {"iat": int(time.time()) + 3600},
        {"nbf": int(time.time()) + 3600},
        {"id_number": None},
        {"id_number": "110105194912310021"},  # wrong check character
        {"id_number": 11010519491231002},
        {"uscc": USCC},  # two identifiers: which one is signed in is ambiguous
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_bad_claims_are_unauthenticated(idp: IdP, overrides: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated) as caught:
        IdTokenVerifier(idp.settings()).verify(idp.token(**overrides))
    assert caught.value.status == 401 and caught.value.reason.value == "unauthenticated"
    assert PERSON not in caught.value.detail


def test_forged_tokens_are_unauthenticated(idp: IdP) -> None:
    verifier = IdTokenVerifier(idp.settings())
    header = {"alg": "ES256", "kid": idp.kid}
    stranger = ECKey.generate_key("P-256", private=True)
    valid = idp.token()
    head, body, signature = valid.split(".")
    tampered = f"{head}.{unsigned({}, idp.claims(id_number='110105198804190478')).split('.')[1]}.{signature}"
    forged = [
        idp.token(key=stranger),  # right kid, wrong key
        idp.token(key=stranger, header={"alg": "ES256", "kid": "unknown"}),
        idp.token(header={"alg": "ES256"}),  # no kid
        unsigned({"alg": "none", "kid": idp.kid}, idp.claims()),
        hs256_with_public_key(idp.key.as_dict(private=False), header, idp.claims()),
        tampered,
        "not-a-token",
        "",
    ]
    for token in forged:
        with pytest.raises(Unauthenticated):
            verifier.verify(token)
    assert verifier.verify(f"{head}.{body}.{signature}").subject_id == PERSON


def test_unconfigured_gateway_refuses_every_token(idp: IdP) -> None:
    with pytest.raises(Unauthenticated, match="not configured"):
        IdTokenVerifier(TransparencySettings()).verify(idp.token())


def test_settings_need_an_audience_and_at_most_one_jwks_location(idp: IdP) -> None:
    with pytest.raises(ValueError, match="AUDIENCE"):
        TransparencySettings(oidc_issuer=ISSUER, jwks_file=idp.jwks_file)
    with pytest.raises(ValueError, match="at most one"):
        TransparencySettings(
            oidc_issuer=ISSUER, oidc_audience=AUDIENCE, jwks_file=idp.jwks_file, jwks_url="https://idp/jwks"
        )
    with pytest.raises(ValueError, match="https"):
        TransparencySettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, jwks_url="http://idp/jwks")
    # Neither: the JWKS location is discovered, which needs an https issuer (or one on loopback).
    assert TransparencySettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE).discovers_jwks
    with pytest.raises(ValueError, match="discovery"):
        TransparencySettings(oidc_issuer="http://idp.example.test", oidc_audience=AUDIENCE)
    local = TransparencySettings(oidc_issuer="http://127.0.0.1:8000/dev-idp", oidc_audience=AUDIENCE)
    assert local.discovers_jwks


def test_nonce_is_checked_when_the_relying_party_sent_one(idp: IdP) -> None:
    verifier = IdTokenVerifier(idp.settings())
    assert verifier.verify(idp.token(nonce="n-1"), nonce="n-1").subject_id == PERSON
    for token in (idp.token(nonce="n-2"), idp.token()):
        with pytest.raises(Unauthenticated, match="not valid"):
            verifier.verify(token, nonce="n-1")


def test_jwks_is_found_through_discovery_whose_issuer_must_match(idp: IdP) -> None:
    served: dict[str, Any] = {
        f"{ISSUER}/.well-known/openid-configuration": {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/keys",
        },
        f"{ISSUER}/keys": {"keys": [idp.key.as_dict(private=False)]},
    }
    fetched: list[str] = []

    def fetch(url: str, timeout_s: float) -> Any:
        fetched.append(url)
        return served[url]

    settings = TransparencySettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE)
    discovery = Discovery(settings, fetch=fetch)
    verifier = IdTokenVerifier(settings, jwks=JwksSource(settings, fetch=fetch, discovery=discovery))
    assert verifier.verify(idp.token()).subject_id == PERSON
    assert fetched == [f"{ISSUER}/.well-known/openid-configuration", f"{ISSUER}/keys"]
    # A document naming another issuer is not trusted (OpenID Connect Discovery §4.3).
    served[f"{ISSUER}/.well-known/openid-configuration"]["issuer"] = "https://evil.example"
    with pytest.raises(Unauthenticated, match="configuration is unavailable"):
        Discovery(settings, fetch=fetch).metadata()


def test_fetched_jwks_is_cached_for_its_ttl_and_refetched_on_rotation(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old, new = IdP(tmp_path / "old", "old"), IdP(tmp_path / "new", "new")
    served = {"keys": [old.key.as_dict(private=False)]}
    fetched: list[str] = []
    now = [1000.0]

    def fetch(url: str, timeout_s: float) -> Any:
        fetched.append(url)
        if served is None:
            raise OSError("provider down")
        return served

    settings = TransparencySettings(
        oidc_issuer=ISSUER, oidc_audience=AUDIENCE, jwks_url="https://idp.example.test/jwks", jwks_ttl_s=60
    )
    verifier = IdTokenVerifier(settings, jwks=JwksSource(settings, fetch=fetch, clock=lambda: now[0]))
    for _ in range(3):
        verifier.verify(old.token())
    assert len(fetched) == 1
    # The provider rotates: a token with the new kid makes one refetch, not one per token.
    served["keys"] = [new.key.as_dict(private=False)]
    with pytest.raises(Unauthenticated):
        verifier.verify(new.token())  # within MIN_REFRESH_S of the first fetch: not refetched yet
    now[0] += 11
    assert verifier.verify(new.token()).subject_id == PERSON
    assert len(fetched) == 2
    now[0] += 61  # past the TTL: refetched, and a provider that is down means nobody signs in
    served = None  # type: ignore[assignment]
    with pytest.raises(Unauthenticated, match="unavailable"):
        verifier.verify(new.token())
