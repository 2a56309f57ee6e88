"""The callback of an asynchronous query: a JWS compact signed by the gateway's request key.

Its own JWS `typ` keeps it apart from a signed request or an exchange event (protocol/signed_messages.py,
protocol/recall.py), which the same key signs: a captured callback can never be passed off as either.
The payload says only that a result is ready and where; the result itself is fetched (and released
once) with the consumer's own token, so a callback that reaches the wrong place discloses nothing.
"""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from joserfc.jwk import Key
from pydantic import BaseModel, ValidationError

from protocol.crypto_profile import DEFAULT, CryptoProfile
from protocol.jose import JoseFailure, canonical, import_public, sign, verify

CALLBACK_TYP = "shuyuan-callback+jws"
CALLBACK_MEDIA_TYPE = "application/jose"
MAX_CALLBACK_BYTES = 16 * 1024


class CallbackPayload(BaseModel):
    """What a callback tells: this consumer's query is ready at `location`."""

    query_id: str
    status: Literal["ready"] = "ready"
    location: str
    consumer: str
    issued_at: datetime


def sign_callback(payload: CallbackPayload, *, key: Key, kid: str, profile: CryptoProfile = DEFAULT) -> bytes:
    """The callback body: a JWS compact over the payload's canonical JSON."""
    body = canonical(payload.model_dump(mode="json"))
    return sign(body, key=key, kid=kid, profile=profile, typ=CALLBACK_TYP).encode("ascii")


def gateway_keys(jwks: Mapping[str, Any], *, profile: CryptoProfile = DEFAULT) -> dict[str, Key]:
    """kid -> public key of a gateway JWKS (as served at /.well-known/request-jwks.json)."""
    return {str(k["kid"]): import_public(k, use="sig", profile=profile) for k in jwks.get("keys", [])}


def verify_callback(
    body: bytes, jwks: Mapping[str, Any], *, profile: CryptoProfile = DEFAULT
) -> CallbackPayload:
    """Verify a callback body against the pinned gateway JWKS; JoseFailure says why it is refused."""
    if not isinstance(body, bytes) or len(body) > MAX_CALLBACK_BYTES:
        raise JoseFailure("malformed", "not a callback of acceptable size")
    try:
        token = body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise JoseFailure("unsigned", "the callback is not a compact JWS") from exc
    keys = gateway_keys(jwks, profile=profile)
    payload, _ = verify(token, resolve=keys.get, profile=profile, typ=CALLBACK_TYP)
    try:
        return CallbackPayload.model_validate(json.loads(payload))
    except (ValueError, ValidationError) as exc:
        raise JoseFailure("malformed", "the signed callback is not a valid callback payload") from exc
