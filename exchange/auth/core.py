"""OAuth2 client authentication and access tokens, without any web framework.

- Client authentication: `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): the client signs
  an assertion with its own private key; iss = sub = client_id, aud = the token endpoint, a short
  exp and a single-use jti. No shared secrets (DESIGN.md §8).
- Access tokens: JWTs of the RFC 9068 profile (typ `at+jwt`), signed by the gateway's own key, short
  lived, carrying the granted scopes.

Built on joserfc (authlib's own JOSE module is deprecated in its favour). authlib's RFC 7523 class
(`JWTBearerClientAssertion`, on joserfc since 1.9) plugs into its AuthorizationServer, which has
server integrations for Flask and Django only; and it decodes without an algorithm allow-list (so
joserfc's defaults, HS256 among them, apply), resolves one key per client (no kid, validity window or
revocation), leaves jti storage and the assertion lifetime to the caller. Each of those is a check
here, named after its RFC item, with jti kept in the database so every gateway instance sees it.
"""

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, KeySet, OKPKey

from exchange.auth.store import AuthStore, ClientRecord
from protocol.errors import Denied, InvalidRequest, Unauthenticated
from protocol.reasons import Reason
from registry.systems.models import CLIENT_ID_PATTERN

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# RFC 9864 names Ed25519 fully ("Ed25519"); "EdDSA" is its older polymorphic name. No HMAC, no RSA,
# never "none": an HS256 assertion "signed" with a public key (key confusion) is refused by name.
ASSERTION_ALGS = {"EdDSA": ("OKP", "Ed25519"), "Ed25519": ("OKP", "Ed25519"), "ES256": ("EC", "P-256")}
TOKEN_ALG = "Ed25519"  # noqa: S105  (an algorithm name, not a secret)
TOKEN_TYPES = {"at+jwt", "application/at+jwt"}  # RFC 9068 §2.1
LEEWAY_S = 30
_CLIENT_ID_RE = re.compile(CLIENT_ID_PATTERN)


class InvalidClient(Unauthenticated):
    """The client could not be authenticated (RFC 6749 §5.2 `invalid_client`)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, error="invalid_client", error_description=detail)


class InvalidToken(Unauthenticated):
    """The bearer token is missing, malformed, expired or not ours (RFC 6750 §3.1 `invalid_token`)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, error="invalid_token", error_description=detail)


class ClientDisabled(Denied):
    """The system or its department is disabled."""

    reason = Reason.CLIENT_DISABLED

    def __init__(self, client_id: str, department: str) -> None:
        super().__init__(f"client {client_id!r} is disabled", error="invalid_client")
        # Raised only after the caller proved who it is, so the refusal can be audited under its name.
        self.client_id = client_id
        self.department = department


class InsufficientScope(Denied):
    """The token does not carry the scope the route needs (RFC 6750 §3.1)."""

    reason = Reason.INSUFFICIENT_SCOPE

    def __init__(self, scope: str) -> None:
        super().__init__(f"this needs the scope {scope!r}", error="insufficient_scope", scope=scope)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a department's system and the scopes of its token."""

    client_id: str
    department: str
    scopes: frozenset[str]
    token_id: str

    def has(self, scope: str) -> bool:
        """Whether the token grants this scope."""
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token endpoint answer (RFC 6749 §5.1)."""

    access_token: str
    expires_in: int
    scope: str
    token_type: str = "Bearer"  # noqa: S105


def signing_key_from_seed(seed: bytes) -> OKPKey:
    """The gateway's Ed25519 token key from a 32-byte seed; its kid is the RFC 7638 thumbprint."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(seed))
    key.ensure_kid()
    return key


TOKEN_KEY_LABEL = b"shuyuan/access-token-signing/v1"


def token_signing_keys(entries: Iterable[str], *, label: bytes = TOKEN_KEY_LABEL) -> list[OKPKey]:
    """The gateway's token keys from SHUYUAN_TOKEN_SIGNING_KEY, in order (the first signs).

    Each entry is a file (a PKCS#8 PEM or a private JWK, Ed25519) or a secret whose HMAC-SHA256 with
    the job's label is the Ed25519 seed, so every instance given the same secret holds the same key
    (and one secret given to two jobs still yields two keys). The request signing key is read the same
    way (exchange/request_signing.py).
    """
    keys: list[OKPKey] = []
    for entry in entries:
        path = Path(entry) if len(entry) < 4096 and "\n" not in entry else None
        if path is not None and path.is_file():
            text = path.read_text()
            key = OKPKey.import_key(json.loads(text) if text.lstrip().startswith("{") else text)
            if key.curve_name != "Ed25519" or not key.is_private:
                raise ValueError(f"{path}: a signing key must be a private Ed25519 key")
            key.ensure_kid()
        else:
            key = signing_key_from_seed(hmac.new(entry.encode(), label, hashlib.sha256).digest())
        keys.append(key)
    if not keys:
        raise ValueError("no signing key")
    return keys


class TokenAuthority:
    """Authenticates clients, issues access tokens and validates them."""

    def __init__(
        self,
        *,
        store: AuthStore,
        signing_key: OKPKey,
        audience: str,
        token_ttl_s: int = 300,
        max_assertion_lifetime_s: int = 300,
        verify_keys: Iterable[OKPKey] = (),
    ) -> None:
        self._store = store
        self._key = signing_key
        # Rotation: tokens of the keys being retired (or about to sign) verify too, chosen by kid.
        others = [k for k in verify_keys if k.kid != signing_key.kid]
        self._keys = KeySet([signing_key, *others])
        self.audience = audience
        self.token_ttl_s = token_ttl_s
        self._max_assertion_s = max_assertion_lifetime_s

    def jwks(self) -> dict[str, Any]:
        """The public JWKS of the gateway's token keys."""
        return {
            "keys": [k.as_dict(private=False) | {"use": "sig", "alg": TOKEN_ALG} for k in self._keys.keys]
        }

    # -- client authentication (RFC 7523) ---------------------------------------------------------

    def authenticate_client(
        self, assertion: str, *, endpoint_urls: Iterable[str], client_id: str | None = None
    ) -> tuple[ClientRecord, str]:
        """Verify a private_key_jwt assertion; return the client and the kid of the key that signed it."""
        header, claims = _peek(assertion)
        alg = header.get("alg")
        if alg not in ASSERTION_ALGS:
            raise InvalidClient(f"assertion alg {str(alg)[:20]!r} is not allowed (EdDSA, Ed25519, ES256)")
        iss, sub = claims.get("iss"), claims.get("sub")
        if not isinstance(iss, str) or not _CLIENT_ID_RE.match(iss) or sub != iss:
            raise InvalidClient("iss and sub must both be the client_id")  # RFC 7523 §3 items 1-2
        if client_id is not None and client_id != iss:
            raise InvalidClient("client_id does not match the assertion")
        now = datetime.now(UTC)
        client = self._store.client(iss, now=now)
        if client is None:
            raise InvalidClient("unknown client")
        kid, key = _assertion_key(client, header, alg)
        try:
            token = jwt.decode(assertion, key, algorithms=[alg])
        except JoseError as exc:
            raise InvalidClient("the assertion signature does not verify") from exc
        expires_at = self._check_assertion_claims(token.claims, endpoint_urls, now)
        if not client.active:
            raise ClientDisabled(iss, client.department)
        if not self._store.claim_assertion(iss, token.claims["jti"], expires_at=expires_at):
            raise InvalidClient("the assertion was already used (jti replay)")  # RFC 7523 §3 item 7
        return client, kid

    def _check_assertion_claims(
        self, claims: dict[str, Any], endpoint_urls: Iterable[str], now: datetime
    ) -> datetime:
        ts = now.timestamp()
        registry = jwt.JWTClaimsRegistry(
            now=int(ts),
            leeway=LEEWAY_S,
            aud={"essential": True, "values": list(endpoint_urls)},  # RFC 7523 §3 item 3
            exp={"essential": True},  # item 4
            jti={"essential": True},  # item 7
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidClient(f"assertion claims: {exc.error}") from exc
        exp = claims["exp"]
        if not isinstance(exp, int | float) or exp - ts > self._max_assertion_s:
            # A long-lived assertion would be a reusable credential and bloat the jti table.
            raise InvalidClient(f"assertion lifetime above {self._max_assertion_s} s")
        jti = claims["jti"]
        if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
            raise InvalidClient("jti must be a string of 8 to 128 characters")
        return datetime.fromtimestamp(exp + LEEWAY_S, UTC)

    # -- access tokens (RFC 9068) ------------------------------------------------------------------

    def issue(self, client: ClientRecord, *, key_id: str, issuer: str, scope: str | None) -> IssuedToken:
        """A short-lived access token for an authenticated client, with the requested granted scopes."""
        if scope is None:
            granted = client.scopes
        else:
            wanted = frozenset(scope.split())
            if not wanted or not wanted <= client.scopes:
                raise InvalidRequest(
                    "a requested scope is not granted to this client",
                    error="invalid_scope",
                    error_description="a requested scope is not granted to this client",
                )
            granted = wanted
        now = int(datetime.now(UTC).timestamp())
        granted_scope = " ".join(sorted(granted))
        claims = {
            "iss": issuer,
            "aud": self.audience,
            "sub": client.client_id,
            "client_id": client.client_id,
            "department": client.department,
            "scope": granted_scope,
            "cnf_kid": key_id,  # the client key behind this token: revoking it revokes the token
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + self.token_ttl_s,
        }
        header = {"alg": TOKEN_ALG, "typ": "at+jwt", "kid": self._key.kid}
        token = jwt.encode(header, claims, self._key, algorithms=[TOKEN_ALG])
        return IssuedToken(access_token=token, expires_in=self.token_ttl_s, scope=granted_scope)

    def validate(self, token: str, *, issuer: str) -> Principal:
        """The principal of a valid access token; the client's state is read now, not from the token."""
        header, _ = _peek(token, error=InvalidToken)
        if header.get("alg") != TOKEN_ALG or str(header.get("typ", "")).lower() not in TOKEN_TYPES:
            raise InvalidToken("not an access token of this gateway (alg/typ)")
        try:
            claims = jwt.decode(token, self._keys, algorithms=[TOKEN_ALG]).claims
        except JoseError as exc:
            raise InvalidToken("the token signature does not verify") from exc
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
            department={"essential": True},
            cnf_kid={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidToken(f"token claims: {exc.error}") from exc
        client_id, kid = str(claims["client_id"]), str(claims["cnf_kid"])
        state = self._store.client_state(client_id, kid, now=datetime.now(UTC))
        if state is None:
            raise InvalidToken("unknown client")
        active, key_usable = state
        if not key_usable:
            raise InvalidToken("the client key behind this token was revoked")
        if not active:
            raise ClientDisabled(client_id, str(claims["department"]))
        return Principal(
            client_id=client_id,
            department=str(claims["department"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            token_id=str(claims["jti"]),
        )


def _peek(
    value: str, *, error: type[Unauthenticated] = InvalidClient
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS before verification (to pick the key; never trusted)."""
    if not isinstance(value, str) or len(value) > 8192 or value.count(".") != 2:
        raise error("not a compact JWS")
    try:
        obj = jws.extract_compact(value.encode("ascii"))
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise error("not a compact JWS") from exc
    if not isinstance(claims, dict):
        raise error("the JWT claims are not an object")
    return dict(obj.headers()), claims


def _assertion_key(client: ClientRecord, header: dict[str, Any], alg: str) -> tuple[str, Any]:
    kty, crv = ASSERTION_ALGS[alg]
    kid = header.get("kid")
    if kid is None:
        fitting = [k for k, jwk in client.keys.items() if (jwk.get("kty"), jwk.get("crv")) == (kty, crv)]
        if len(fitting) != 1:
            raise InvalidClient("the assertion header needs a kid")
        kid = fitting[0]
    jwk = client.keys.get(kid) if isinstance(kid, str) else None
    if jwk is None:
        raise InvalidClient("no valid key with this kid (unknown, expired or revoked)")
    if (jwk.get("kty"), jwk.get("crv")) != (kty, crv):
        raise InvalidClient(f"key {kid!r} cannot verify {alg}")
    public = {k: v for k, v in jwk.items() if k in {"kty", "crv", "x", "y"}}  # never a private part
    return kid, JWKRegistry.import_key(public)
