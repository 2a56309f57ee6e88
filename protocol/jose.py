"""JOSE helpers of the exchange (joserfc): subject JWEs to sources, signed-then-encrypted answers.

Every algorithm comes from a named crypto profile (`protocol/crypto_profile.py`); verifiers and
decrypters accept exactly the profile's algorithms, so a token cannot choose a weaker one (`alg: none`,
HMAC with a public key as secret, ...). Failures raise `JoseFailure` with a short machine code, never
a joserfc exception type, so callers can record why a message was refused.

An answer is nested JOSE: the source signs a canonical JSON claim set (JWS compact), then encrypts
that JWS to the consumer department (JWE compact). The gateway only ever carries the outer JWE.
"""

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import rfc8785
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import Key, OKPKey

from protocol.crypto_profile import DEFAULT, CryptoProfile, KeyUse
from protocol.errors import ShuyuanError
from protocol.reasons import Reason

ANSWER_VERSION = 1
MAX_TOKEN_CHARS = 96 * 1024  # above the largest answer a source may send (joserfc caps 64 KiB ciphertext)

KeyResolver = Callable[[str], Key | None]


class JoseFailure(ShuyuanError):
    """A JOSE object could not be read, verified or decrypted; `code` says which check failed.

    Callers turn it into a reason of their own (a rejected answer, a refused key); one that escapes
    to the caller means the JOSE object it sent is unusable: `invalid_request`.
    """

    status = 400
    reason = Reason.INVALID_REQUEST

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.args = (f"{code}: {detail}",)  # str() names the failed check, as logs expect


def canonical(obj: Any) -> bytes:
    """RFC 8785 canonical JSON: the signed bytes do not depend on who serialised them."""
    return rfc8785.dumps(obj)


def public_jwk(key: Key, *, kid: str) -> dict[str, Any]:
    """The public part of a key as a JWK dict with its kid."""
    return {**key.as_dict(private=False), "kid": kid}


def thumbprint(key: Key) -> str:
    """The RFC 7638 thumbprint: a kid that names the key material itself."""
    return str(key.thumbprint())


def import_public(jwk: Mapping[str, Any], *, use: KeyUse, profile: CryptoProfile = DEFAULT) -> Key:
    """Import a registered public JWK; refuses private material and key types the profile does not use."""
    if "d" in jwk:
        raise JoseFailure("private_key_material", "a public JWK must not carry private key material")
    if not profile.key_type(use).matches(dict(jwk)):
        kt = profile.key_type(use)
        raise JoseFailure("wrong_key_type", f"{use} keys of profile {profile.name!r} are {kt.kty}/{kt.crv}")
    try:
        return OKPKey.import_key(dict(jwk)) if jwk.get("kty") == "OKP" else _import_other(jwk)
    except (JoseError, ValueError, TypeError, binascii.Error) as exc:
        raise JoseFailure("bad_key", f"not a usable JWK: {type(exc).__name__}") from exc


def _import_other(jwk: Mapping[str, Any]) -> Key:
    from joserfc.jwk import import_key

    return import_key(dict(jwk))


def peek_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS or JWE, unverified (to pick the key by kid)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise JoseFailure("malformed", "not a compact token of acceptable size")
    first = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise JoseFailure("malformed", "the protected header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise JoseFailure("malformed", "the protected header is not a JSON object")
    return header


def encrypt(
    plaintext: bytes, *, recipient: Key, kid: str, profile: CryptoProfile = DEFAULT, cty: str | None = None
) -> str:
    """JWE compact to one recipient's public key, named by kid."""
    header: dict[str, Any] = {"alg": profile.jwe_alg, "enc": profile.jwe_enc, "kid": kid}
    if cty:
        header["cty"] = cty
    return jwe.encrypt_compact(header, plaintext, recipient, algorithms=profile.jwe_algorithms)


def decrypt(token: str, *, keys: Mapping[str, Key], profile: CryptoProfile = DEFAULT) -> bytes:
    """Decrypt a JWE compact with the private key its kid names; JoseFailure on any defect."""
    header = peek_header(token)
    if header.get("alg") != profile.jwe_alg or header.get("enc") != profile.jwe_enc:
        raise JoseFailure("wrong_algorithm", f"profile {profile.name!r} expects {profile.jwe_algorithms}")
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise JoseFailure("unknown_key", "the JWE is not encrypted to any key held here")
    try:
        return jwe.decrypt_compact(token, key, algorithms=profile.jwe_algorithms).plaintext or b""
    except (JoseError, ValueError, TypeError, binascii.Error) as exc:
        raise JoseFailure("undecryptable", f"JWE decryption failed: {type(exc).__name__}") from exc


def sign(
    payload: bytes, *, key: Key, kid: str, profile: CryptoProfile = DEFAULT, typ: str | None = None
) -> str:
    """JWS compact over the payload with a private signing key, named by kid (and `typ`, if given)."""
    header: dict[str, Any] = {"alg": profile.jws_alg, "kid": kid}
    if typ:
        header["typ"] = typ
    return jws.serialize_compact(header, payload, key, algorithms=[profile.jws_alg])


def verify(
    token: str, *, resolve: KeyResolver, profile: CryptoProfile = DEFAULT, typ: str | None = None
) -> tuple[bytes, str]:
    """Verify a JWS compact with the public key `resolve(kid)` returns; (payload, kid) or JoseFailure.

    With `typ`, the protected header must name that type (RFC 8725 §3.11: a signed object of one kind
    is never accepted as another, e.g. a source's reply as a gateway's request).
    """
    header = peek_header(token)
    if header.get("alg") != profile.jws_alg:
        raise JoseFailure("wrong_algorithm", f"profile {profile.name!r} signs with {profile.jws_alg}")
    if typ is not None and header.get("typ") != typ:
        raise JoseFailure("wrong_type", f"not a {typ} object")
    kid = str(header.get("kid"))
    key = resolve(kid)
    if key is None:
        raise JoseFailure("unknown_key", f"no valid signing key {kid[:64]!r} for this source")
    try:
        obj = jws.deserialize_compact(token, key, algorithms=[profile.jws_alg])
    except (JoseError, ValueError, TypeError, binascii.Error) as exc:
        raise JoseFailure("invalid_signature", f"JWS verification failed: {type(exc).__name__}") from exc
    return obj.payload or b"", kid


def subject_binding(*, query_id: str, subject_type: str, subject_id: str) -> str:
    """Binds a signed answer to its subject and query without naming the subject.

    Only the consumer (who knows the identifier) can recompute it; it is inside the JWE anyway, and the
    query id keeps equal subjects of different queries from sharing a value.
    """
    msg = f"shuyuan/answer-subject/v1|{query_id}|{subject_type}:{subject_id}".encode()
    return hashlib.sha256(msg).hexdigest()


def seal_subject(
    *,
    subject_type: str,
    subject_id: str,
    query_id: str,
    recipient: Key,
    kid: str,
    profile: CryptoProfile = DEFAULT,
) -> str:
    """The subject identifier as a JWE to the source department, bound to the query id."""
    body = canonical({"query_id": query_id, "type": subject_type, "id": subject_id})
    return encrypt(body, recipient=recipient, kid=kid, profile=profile)


def open_subject(
    token: str, *, query_id: str, keys: Mapping[str, Key], profile: CryptoProfile = DEFAULT
) -> tuple[str, str]:
    """Decrypt a subject JWE and check it was made for this query; (type, id)."""
    try:
        body = json.loads(decrypt(token, keys=keys, profile=profile))
    except ValueError as exc:
        raise JoseFailure("malformed", "the subject JWE does not hold JSON") from exc
    if not isinstance(body, dict) or body.get("query_id") != query_id:
        raise JoseFailure("wrong_binding", "the subject JWE was made for another query")
    if not isinstance(body.get("type"), str) or not isinstance(body.get("id"), str):
        raise JoseFailure("malformed", "the subject JWE lacks type or id")
    return body["type"], body["id"]


def seal_answer(
    claims: Mapping[str, Any],
    *,
    signing_key: Key,
    signing_kid: str,
    recipient: Key,
    recipient_kid: str,
    profile: CryptoProfile = DEFAULT,
) -> str:
    """Sign the answer claims as the source, then encrypt the JWS to the consumer."""
    signed = sign(
        canonical({"v": ANSWER_VERSION, "iat": int(time.time()), **claims}),
        key=signing_key,
        kid=signing_kid,
        profile=profile,
    )
    return encrypt(signed.encode(), recipient=recipient, kid=recipient_kid, profile=profile, cty="JWS")


def open_answer(
    token: str, *, keys: Mapping[str, Key], resolve: KeyResolver, profile: CryptoProfile = DEFAULT
) -> tuple[dict[str, Any], str]:
    """Decrypt an answer with the consumer's keys and verify the source's signature; (claims, kid)."""
    inner = decrypt(token, keys=keys, profile=profile)
    try:
        signed = inner.decode("ascii")
    except UnicodeDecodeError as exc:
        raise JoseFailure("malformed", "the answer JWE does not hold a compact JWS") from exc
    payload, kid = verify(signed, resolve=resolve, profile=profile)
    try:
        claims = json.loads(payload)
    except ValueError as exc:
        raise JoseFailure("malformed", "the signed answer is not JSON") from exc
    if not isinstance(claims, dict) or claims.get("v") != ANSWER_VERSION:
        raise JoseFailure("malformed", "the signed answer is not a version-1 claim set")
    return claims, kid
