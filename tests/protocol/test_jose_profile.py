"""JOSE helpers and the crypto profile: round trips, and every way a token can be refused."""

import base64
import hashlib
import hmac
import json

import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey, OKPKey

from protocol.crypto_profile import DEFAULT, CryptoProfile, get_profile, profile_names, register_profile
from protocol.jose import (
    JoseFailure,
    decrypt,
    encrypt,
    import_public,
    open_answer,
    open_subject,
    public_jwk,
    seal_answer,
    seal_subject,
    sign,
    subject_binding,
    thumbprint,
    verify,
)


def _keys() -> tuple[OKPKey, OKPKey]:
    return OKPKey.generate_key("Ed25519"), OKPKey.generate_key("X25519")


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_default_profile_names_the_algorithms_of_design_section_8() -> None:
    profile = get_profile()
    assert profile is DEFAULT and profile.name == "default" and profile_names() == ["default"]
    assert (profile.jwe_alg, profile.jwe_enc, profile.jws_alg) == ("ECDH-ES+A256KW", "A256GCM", "Ed25519")
    assert (profile.sig_key.crv, profile.enc_key.crv) == ("Ed25519", "X25519")
    assert profile.blind_index(b"k", b"m") == hmac.new(b"k", b"m", hashlib.sha256).hexdigest()


def test_unknown_profile_and_duplicate_registration_are_refused() -> None:
    with pytest.raises(KeyError, match="sm"):
        get_profile("sm")
    with pytest.raises(ValueError, match="already registered"):
        register_profile(DEFAULT)
    assert isinstance(DEFAULT, CryptoProfile)


def test_subject_round_trip_is_bound_to_its_query() -> None:
    _, enc = _keys()
    kid = thumbprint(enc)
    token = seal_subject(
        subject_type="person",
        subject_id="110105198804190479",
        query_id="q-1",
        recipient=import_public(public_jwk(enc, kid=kid), use="enc"),
        kid=kid,
    )
    assert "110105198804190479" not in token
    assert open_subject(token, query_id="q-1", keys={kid: enc}) == ("person", "110105198804190479")
    with pytest.raises(JoseFailure) as excinfo:
        open_subject(token, query_id="q-2", keys={kid: enc})
    assert excinfo.value.code == "wrong_binding"


def test_answer_is_signed_then_encrypted_and_opens_only_with_the_right_keys() -> None:
    sig, enc = _keys()
    token = seal_answer(
        {"element": "person.name", "value": "张三"},
        signing_key=sig,
        signing_kid="s1",
        recipient=enc,
        recipient_kid="e1",
    )
    claims, kid = open_answer(token, keys={"e1": enc}, resolve={"s1": sig}.get)
    assert kid == "s1" and claims["value"] == "张三" and claims["v"] == 1 and isinstance(claims["iat"], int)
    other_sig, other_enc = _keys()
    for keys, resolve, code in [
        ({"e1": other_enc}, {"s1": sig}.get, "undecryptable"),  # encrypted to another department
        ({"e2": enc}, {"s1": sig}.get, "unknown_key"),  # no private key with that kid
        ({"e1": enc}, {"s1": other_sig}.get, "invalid_signature"),  # signed by someone else
        ({"e1": enc}, {}.get, "unknown_key"),  # unknown or revoked signing kid
    ]:
        with pytest.raises(JoseFailure) as excinfo:
            open_answer(token, keys=keys, resolve=resolve)
        assert excinfo.value.code == code


def test_tampered_ciphertext_and_tag_are_refused() -> None:
    _, enc = _keys()
    token = encrypt(b"secret", recipient=enc, kid="e1")
    parts = token.split(".")
    for index in (1, 2, 3, 4):
        flipped = list(parts)
        flipped[index] = ("A" if flipped[index][0] != "A" else "B") + flipped[index][1:]
        with pytest.raises(JoseFailure) as excinfo:
            decrypt(".".join(flipped), keys={"e1": enc})
        assert excinfo.value.code == "undecryptable"
    assert decrypt(token, keys={"e1": enc}) == b"secret"


def test_tampered_payload_of_a_signature_is_refused() -> None:
    sig, _ = _keys()
    token = sign(b'{"value":1}', key=sig, kid="s1")
    header, _, signature = token.split(".")
    forged = f"{header}.{_b64({'value': 2})}.{signature}"
    with pytest.raises(JoseFailure) as excinfo:
        verify(forged, resolve={"s1": sig}.get)
    assert excinfo.value.code == "invalid_signature"


def test_alg_none_hmac_key_confusion_and_foreign_jwe_algorithms_are_refused() -> None:
    sig, enc = _keys()
    none_token = f"{_b64({'alg': 'none', 'kid': 's1'})}.{_b64({'value': 1})}."
    hmac_token = jws.serialize_compact(
        {"alg": "HS256", "kid": "s1"}, b"{}", OctKey.import_key(b"x" * 32), algorithms=["HS256"]
    )
    with pytest.warns(SecurityWarning):  # the polymorphic name RFC 9864 deprecates
        eddsa_token = jws.serialize_compact({"alg": "EdDSA", "kid": "s1"}, b"{}", sig, algorithms=["EdDSA"])
    for token in (none_token, hmac_token, eddsa_token):
        with pytest.raises(JoseFailure) as excinfo:
            verify(token, resolve={"s1": sig}.get)
        assert excinfo.value.code == "wrong_algorithm"
    dir_header = _b64({"alg": "dir", "enc": "A256GCM", "kid": "e1"})
    with pytest.raises(JoseFailure) as excinfo:
        decrypt(f"{dir_header}..aaaa.bbbb.cccc", keys={"e1": enc})
    assert excinfo.value.code == "wrong_algorithm"


@pytest.mark.parametrize("token", ["", "no-dots", "!!!.x.y", f"{_b64([1])}.a.b", "a" * 200_000])
def test_garbage_tokens_are_malformed(token: str) -> None:
    with pytest.raises(JoseFailure) as excinfo:
        verify(token, resolve=lambda _: None)
    assert excinfo.value.code in {"malformed", "wrong_algorithm"}


def test_public_import_refuses_private_material_and_wrong_curves() -> None:
    sig, enc = _keys()
    with pytest.raises(JoseFailure) as excinfo:
        import_public({**enc.as_dict(private=True), "kid": "e"}, use="enc")
    assert excinfo.value.code == "private_key_material"
    with pytest.raises(JoseFailure) as excinfo:
        import_public(public_jwk(sig, kid="s"), use="enc")  # a signing key offered for encryption
    assert excinfo.value.code == "wrong_key_type"
    with pytest.raises(JoseFailure) as excinfo:
        import_public({"kty": "OKP", "crv": "X25519", "x": "not base64!"}, use="enc")
    assert excinfo.value.code == "bad_key"


def test_subject_binding_depends_on_query_and_subject() -> None:
    a = subject_binding(query_id="q1", subject_type="person", subject_id="1")
    assert a != subject_binding(query_id="q2", subject_type="person", subject_id="1")
    assert a != subject_binding(query_id="q1", subject_type="person", subject_id="2")
    assert len(a) == 64 and "1" * 18 not in a
