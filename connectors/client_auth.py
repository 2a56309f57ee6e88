"""The client side of OAuth2 private_key_jwt (RFC 7523): sign an assertion, get and cache a token.

Used by the `shuyuan` CLI and the consumer SDK; the gateway side is exchange/auth/core.py.
A system's private key stays in its own file (mode 0600); only the public half is registered.
"""

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry, OKPKey

from protocol.errors import ShuyuanError
from protocol.reasons import Reason

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_MARGIN_S = 30  # renew this long before expiry, so a token never dies in flight


class TokenError(ShuyuanError):
    """The token endpoint refused (its problem+json body is kept for the caller to show).

    Whatever the endpoint answered, the client could not authenticate: `status` is 401, the
    endpoint's own HTTP status is `status_code`.
    """

    status = 401
    reason = Reason.UNAUTHENTICATED

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"token endpoint answered {status}: {body}")
        self.status_code = status
        self.body = body


def generate_key(*, kid: str | None = None, curve: str = "Ed25519") -> dict[str, Any]:
    """A new private signing JWK (Ed25519 by default, or P-256) with a kid (RFC 7638 thumbprint)."""
    key = OKPKey.generate_key("Ed25519") if curve == "Ed25519" else ECKey.generate_key("P-256")
    jwk = key.as_dict(private=True)
    jwk["kid"] = kid or key.thumbprint()
    return jwk


def public_part(private_jwk: dict[str, Any]) -> dict[str, Any]:
    """The public JWK to register (kty, crv, x, y, kid): never `d`."""
    return {k: v for k, v in private_jwk.items() if k in {"kty", "crv", "x", "y", "kid"}}


def write_key_file(path: Path, data: dict[str, Any]) -> None:
    """Write a private JWK (or a cached token) readable by its owner only: created 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    os.chmod(path, 0o600)


def read_key_file(path: Path) -> dict[str, Any]:
    """Read a private JWK file."""
    jwk: dict[str, Any] = json.loads(path.read_text())
    if "d" not in jwk:
        raise ValueError(f"{path} holds no private key")
    return jwk


def make_assertion(
    private_jwk: dict[str, Any],
    *,
    client_id: str,
    audience: str,
    lifetime_s: int = 60,
    alg: str | None = None,
) -> str:
    """A client assertion: iss = sub = client_id, aud = the token endpoint, short exp, fresh jti."""
    key = JWKRegistry.import_key(private_jwk)
    alg = alg or ("ES256" if private_jwk.get("kty") == "EC" else "Ed25519")
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + lifetime_s,
    }
    header = {"alg": alg, "typ": "JWT", "kid": private_jwk.get("kid") or key.thumbprint()}
    return jwt.encode(header, claims, key, algorithms=[alg])


@dataclass
class TokenSource:
    """Access tokens for one client system, fetched with its private key and reused until near expiry."""

    base_url: str
    client_id: str
    private_jwk: dict[str, Any]
    scope: str | None = None
    cache_path: Path | None = None
    timeout_s: float = 15.0
    verify: str | bool = True  # a CA bundle path for an HTTPS gateway with a private CA
    _memory: tuple[str, float] | None = None

    def token(self) -> str:
        """A valid access token, from the cache when it still has time left."""
        if self._memory is not None and self._memory[1] - TOKEN_MARGIN_S > time.time():
            return self._memory[0]
        cached = self._cached()
        if cached is not None:
            return cached
        token_url = f"{self.base_url.rstrip('/')}/oauth/token"
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": make_assertion(
                self.private_jwk, client_id=self.client_id, audience=token_url
            ),
        }
        if self.scope:
            form["scope"] = self.scope
        response = httpx.post(token_url, data=form, timeout=self.timeout_s, verify=self.verify)
        try:
            body = response.json()
        except ValueError:
            body = response.text[:500]
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            raise TokenError(response.status_code, body)
        self._store(body["access_token"], time.time() + float(body.get("expires_in", 60)))
        return str(body["access_token"])

    def forget(self) -> None:
        """Drop the cached token (the next call fetches a new one)."""
        if self.cache_path is not None:
            self.cache_path.unlink(missing_ok=True)
        self._memory = None

    def headers(self) -> dict[str, str]:
        """The Authorization header of a request."""
        return {"Authorization": f"Bearer {self.token()}"}

    def _cached(self) -> str | None:
        if self.cache_path is None or not self.cache_path.exists():
            return None
        try:
            data = json.loads(self.cache_path.read_text())
        except (OSError, ValueError):
            return None
        fits = data.get("base_url") == self.base_url and data.get("scope") == self.scope
        if fits and float(data.get("expires_at", 0)) - TOKEN_MARGIN_S > time.time():
            return str(data["access_token"])
        return None

    def _store(self, token: str, expires_at: float) -> None:
        self._memory = (token, expires_at)
        if self.cache_path is None:
            return
        record = {
            "access_token": token,
            "expires_at": expires_at,
            "base_url": self.base_url,
            "scope": self.scope,
        }
        write_key_file(self.cache_path, record)


class TokenAuth(httpx.Auth):
    """httpx authentication with a TokenSource: bearer token on every request, one retry on a 401."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def auth_flow(self, request: httpx.Request) -> Any:
        """Send with the current token; if it was refused as invalid (e.g. expired early), renew once."""
        request.headers["Authorization"] = f"Bearer {self.source.token()}"
        response = yield request
        if response.status_code == 401:
            self.source.forget()
            request.headers["Authorization"] = f"Bearer {self.source.token()}"
            yield request
