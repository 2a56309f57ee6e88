"""The value a correction's filer proposes, end to end: signed by the filer, encrypted to the source.

A proposed value is personal data (the right address, the right name), so the gateway must not read it
(DESIGN.md §12, the gateway operator and the database administrator): the filer's connector signs it
and encrypts it to the source department's current encryption key, the gateway stores the JWE as it
came, and only the source opens it. The signed claims name the element and the filer, so a JWE lifted
from one correction cannot pass for another's, nor a value be passed off as another department's.
"""

import json
import time
from collections.abc import Mapping

from joserfc.jwk import Key

from protocol.crypto_profile import DEFAULT, CryptoProfile
from protocol.jose import JoseFailure, KeyResolver, canonical, decrypt, encrypt, sign, verify

PROPOSED_VALUE_TYP = "shuyuan-proposed-value+jws"
MAX_PROPOSED_VALUE_CHARS = 2000


def seal_proposed_value(
    value: str,
    *,
    element: str,
    filer: str,
    signing_key: Key,
    signing_kid: str,
    recipient: Key,
    recipient_kid: str,
    profile: CryptoProfile = DEFAULT,
) -> str:
    """Sign the proposed value as the filer, then encrypt it to the source department's key."""
    if not value or len(value) > MAX_PROPOSED_VALUE_CHARS:
        raise ValueError(f"a proposed value has 1 to {MAX_PROPOSED_VALUE_CHARS} characters")
    claims = {"v": 1, "iat": int(time.time()), "element": element, "filer": filer, "value": value}
    signed = sign(
        canonical(claims), key=signing_key, kid=signing_kid, profile=profile, typ=PROPOSED_VALUE_TYP
    )
    return encrypt(signed.encode(), recipient=recipient, kid=recipient_kid, profile=profile, cty="JWS")


def open_proposed_value(
    token: str,
    *,
    element: str,
    filer: str,
    keys: Mapping[str, Key],
    resolve: KeyResolver,
    profile: CryptoProfile = DEFAULT,
) -> str:
    """Decrypt with the source's keys, verify the filer's signature and binding; the value or JoseFailure."""
    inner = decrypt(token, keys=keys, profile=profile)
    try:
        signed = inner.decode("ascii")
    except UnicodeDecodeError as exc:
        raise JoseFailure("malformed", "the proposed value JWE does not hold a compact JWS") from exc
    payload, _ = verify(signed, resolve=resolve, profile=profile, typ=PROPOSED_VALUE_TYP)
    try:
        claims = json.loads(payload)
    except ValueError as exc:
        raise JoseFailure("malformed", "the signed proposed value is not JSON") from exc
    if not isinstance(claims, dict) or claims.get("v") != 1 or not isinstance(claims.get("value"), str):
        raise JoseFailure("malformed", "the signed proposed value is not a version-1 claim set")
    if claims.get("element") != element or claims.get("filer") != filer:
        raise JoseFailure("wrong_binding", "the proposed value was made for another element or filer")
    return str(claims["value"])
