"""The gateway's request key: it signs every SourceRequest, and sources answer nothing else.

It also signs the exchange's own events (the correction recall, protocol/recall.py), which the
connectors verify against the same pinned JWKS; the JWS `typ` keeps a request and an event apart.

Its own job and key (`SHUYUAN_REQUEST_SIGNING_KEY`, docs/crypto.md), read like the token key: each
comma-separated entry is a private Ed25519 key file or a secret; the first signs, all are published
(rotation: add the new key second, let the connectors pin the new JWKS, then move it first). Sources
pin the public JWKS (`shuyuan keys gateway-jwks`, also served at `/.well-known/request-jwks.json`).
"""

from dataclasses import dataclass
from typing import Any

from joserfc.jwk import Key, OKPKey

from exchange.auth.core import token_signing_keys
from protocol.crypto_profile import DEFAULT, CryptoProfile
from protocol.envelope import SourceRequest
from protocol.jose import import_public, public_jwk
from protocol.signed_messages import sign_request

REQUEST_KEY_LABEL = b"shuyuan/source-request-signing/v1"


@dataclass(frozen=True)
class RequestSigner:
    """Signs requests with the first key; publishes every key's public half."""

    keys: tuple[OKPKey, ...]
    profile: CryptoProfile = DEFAULT

    @classmethod
    def from_entries(cls, entries: list[str], *, profile: CryptoProfile = DEFAULT) -> "RequestSigner":
        """The signer of SHUYUAN_REQUEST_SIGNING_KEY's entries (files or secrets)."""
        return cls(tuple(token_signing_keys(entries, label=REQUEST_KEY_LABEL)), profile)

    def sign(self, request: SourceRequest) -> bytes:
        """The request as a JWS compact (protocol/signed_messages.py)."""
        key = self.keys[0]
        return sign_request(request, key=key, kid=str(key.kid), profile=self.profile)

    def signing_key(self) -> tuple[Key, str]:
        """The key that signs now and its kid (also for the exchange's own recall events)."""
        key = self.keys[0]
        return key, str(key.kid)

    def public_keys(self) -> dict[str, Key]:
        """kid -> public key: what an in-process connector pins (a separate one reads the JWKS file)."""
        return {str(k.kid): import_public(public_jwk(k, kid=str(k.kid)), use="sig") for k in self.keys}

    def jwks(self) -> dict[str, Any]:
        """The public JWKS connectors pin."""
        return {
            "keys": [
                public_jwk(k, kid=str(k.kid)) | {"use": "sig", "alg": self.profile.jws_alg} for k in self.keys
            ]
        }
