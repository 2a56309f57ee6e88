"""Platform-key cryptography: blind indexes and sealed answers at rest."""

import pytest
from cryptography.exceptions import InvalidTag

from exchange.crypto import PlatformKeys

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
