"""The gateway's own keys: blind indexes and sealed answers at rest, each with its own key."""

import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange.crypto import SEALING_LABEL, PlatformKeys, derive, sealing_kid

PERSON = "110105198804190479"


def test_the_blind_index_is_stable_and_hides_the_identifier() -> None:
    keys = PlatformKeys(b"platform secret")
    index = keys.blind_index("person", PERSON)
    assert index == PlatformKeys(b"platform secret").blind_index("person", PERSON)
    assert len(index) == 64 and int(index, 16) >= 0
    assert PERSON not in index


def test_the_blind_index_depends_on_key_type_and_identifier() -> None:
    keys = PlatformKeys(b"platform secret")
    index = keys.blind_index("person", PERSON)
    assert PlatformKeys(b"another secret").blind_index("person", PERSON) != index
    assert keys.blind_index("enterprise", PERSON) != index
    assert keys.blind_index("person", "11010519880419047X") != index


def test_sealing_round_trips_and_hides_the_plaintext() -> None:
    keys = PlatformKeys(b"platform secret")
    sealed = keys.seal("位帆".encode(), context=b"query_record:zjj:q-1")
    assert "位帆".encode() not in sealed
    assert keys.unseal(sealed, context=b"query_record:zjj:q-1") == "位帆".encode()
    # A random nonce: sealing twice gives two different ciphertexts.
    assert keys.seal(b"x", context=b"c") != keys.seal(b"x", context=b"c")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda keys, sealed: keys.unseal(sealed, context=b"query_record:xzsp:q-1"),
        lambda keys, sealed: keys.unseal(
            sealed[:-1] + bytes([sealed[-1] ^ 1]), context=b"query_record:zjj:q-1"
        ),
        lambda keys, sealed: PlatformKeys(b"other").unseal(sealed, context=b"query_record:zjj:q-1"),
    ],
    ids=["other context", "flipped bit", "other key"],
)
def test_a_changed_context_ciphertext_or_key_is_refused(tamper) -> None:
    keys = PlatformKeys(b"platform secret")
    sealed = keys.seal(b"secret", context=b"query_record:zjj:q-1")
    with pytest.raises(InvalidTag):
        tamper(keys, sealed)


def test_the_development_keys_are_the_ones_derived_from_the_platform_key_before() -> None:
    # Derivations unchanged: existing blind indexes and stored answers of a development database stay valid.
    secret = b"platform secret"
    separate = PlatformKeys(blind_index_secret=secret, sealing_secrets=[secret])
    assert separate.blind_index("person", PERSON) == PlatformKeys(secret).blind_index("person", PERSON)
    nonce = os.urandom(12)
    legacy = nonce + AESGCM(derive(secret, SEALING_LABEL)).encrypt(nonce, b"old answer", b"ctx")
    assert separate.unseal(legacy, context=b"ctx") == b"old answer"  # sealed before kids were stored


def test_the_blind_index_and_the_sealing_keys_are_separate() -> None:
    keys = PlatformKeys(blind_index_secret=b"index secret", sealing_secrets=[b"sealing secret"])
    other_index = PlatformKeys(blind_index_secret=b"another index", sealing_secrets=[b"sealing secret"])
    assert keys.blind_index("person", PERSON) != other_index.blind_index("person", PERSON)
    sealed = keys.seal(b"v", context=b"c")
    assert other_index.unseal(sealed, context=b"c") == b"v"  # a new index key leaves sealing alone


def test_sealing_keys_rotate_by_kid() -> None:
    old = PlatformKeys(blind_index_secret=b"i", sealing_secrets=[b"old sealing"])
    sealed_old = old.seal(b"answer", context=b"c")
    rotated = PlatformKeys(blind_index_secret=b"i", sealing_secrets=[b"new sealing", b"old sealing"])
    assert rotated.unseal(sealed_old, context=b"c") == b"answer"
    sealed_new = rotated.seal(b"answer", context=b"c")
    assert sealed_new[1:5] == sealing_kid(derive(b"new sealing", SEALING_LABEL)) != sealed_old[1:5]
    with pytest.raises(InvalidTag):
        old.unseal(sealed_new, context=b"c")
    retired = PlatformKeys(blind_index_secret=b"i", sealing_secrets=[b"new sealing"])
    with pytest.raises(InvalidTag):
        retired.unseal(sealed_old, context=b"c")
