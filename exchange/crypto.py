"""The gateway's own symmetric keys: blind indexes and at-rest sealing of stored answers.

Each job has its own key (docs/crypto.md): `SHUYUAN_BLIND_INDEX_KEY` and `SHUYUAN_SEALING_KEY`, and
in development both default to `SHUYUAN_PLATFORM_KEY`. A configured secret is never used as is: it
goes through HMAC-SHA256 with the job's label, so one secret given to two jobs still yields two keys.
"""

import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.crypto_profile import DEFAULT, CryptoProfile

BLIND_INDEX_LABEL = b"shuyuan/blind-index/v1"
SEALING_LABEL = b"shuyuan/at-rest/v1"
_SEALED_V1 = b"\x01"  # version byte, then the 4-byte kid of the sealing key, then nonce + ciphertext
_KID_BYTES = 4


def derive(secret: bytes, label: bytes) -> bytes:
    """The 32-byte key of one job from a configured secret."""
    return hmac.new(secret, label, hashlib.sha256).digest()


def sealing_kid(key: bytes) -> bytes:
    """A short id of a sealing key, stored in front of what it sealed (not secret, not the key)."""
    return hmac.new(key, b"shuyuan/at-rest/kid", hashlib.sha256).digest()[:_KID_BYTES]


class PlatformKeys:
    """The blind-index key and the sealing keys (the first seals; every one unseals, chosen by kid)."""

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        blind_index_secret: bytes | None = None,
        sealing_secrets: Sequence[bytes] = (),
        profile: CryptoProfile = DEFAULT,
    ) -> None:
        # `secret` alone: the development shortcut, both jobs from one secret (labels keep them apart).
        index_secret = blind_index_secret if blind_index_secret is not None else secret
        seal_secrets = list(sealing_secrets) or ([secret] if secret is not None else [])
        if index_secret is None or not seal_secrets:
            raise ValueError("a blind-index secret and at least one sealing secret are needed")
        self._profile = profile  # the blind index MAC is the crypto profile's (docs/crypto.md)
        self._index_key = derive(index_secret, BLIND_INDEX_LABEL)
        self._sealers = [
            (sealing_kid(k), AESGCM(k)) for k in (derive(s, SEALING_LABEL) for s in seal_secrets)
        ]

    def blind_index(self, subject_type: str, subject_id: str) -> str:
        """The profile's MAC (HMAC-SHA256) of the canonical identifier: joins records, never stores it."""
        msg = f"{subject_type}:{subject_id}".encode()
        return self._profile.blind_index(self._index_key, msg)

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        """AES-256-GCM with a random nonce under the current sealing key, bound to a context."""
        kid, aead = self._sealers[0]
        nonce = os.urandom(12)
        return _SEALED_V1 + kid + nonce + aead.encrypt(nonce, plaintext, context)

    def unseal(self, sealed: bytes, *, context: bytes) -> bytes:
        """Reverse seal() with the key its kid names; raises InvalidTag if data, context or key is wrong."""
        head = 1 + _KID_BYTES
        if sealed[:1] == _SEALED_V1:
            for kid, aead in self._sealers:
                if kid == sealed[1:head]:
                    try:
                        return aead.decrypt(sealed[head : head + 12], sealed[head + 12 :], context)
                    except InvalidTag:
                        break
        # Sealed before kids were stored (nonce + ciphertext): try every key.
        for _, aead in self._sealers:
            try:
                return aead.decrypt(sealed[:12], sealed[12:], context)
            except InvalidTag:
                continue
        raise InvalidTag
