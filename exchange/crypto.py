"""Platform-key cryptography of the gateway: blind indexes and at-rest sealing of stored answers."""

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.crypto_profile import DEFAULT, CryptoProfile


class PlatformKeys:
    """Keys derived from the platform secret, one per purpose."""

    def __init__(self, secret: bytes, *, profile: CryptoProfile = DEFAULT) -> None:
        self._profile = profile  # the blind index MAC is the crypto profile's (docs/crypto.md)
        self._index_key = hmac.new(secret, b"shuyuan/blind-index/v1", hashlib.sha256).digest()
        self._seal = AESGCM(hmac.new(secret, b"shuyuan/at-rest/v1", hashlib.sha256).digest())

    def blind_index(self, subject_type: str, subject_id: str) -> str:
        """The profile's MAC (HMAC-SHA256) of the canonical identifier: joins records, never stores it."""
        msg = f"{subject_type}:{subject_id}".encode()
        return self._profile.blind_index(self._index_key, msg)

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        """AES-256-GCM with a random nonce, bound to a context (e.g. the query id)."""
        nonce = os.urandom(12)
        return nonce + self._seal.encrypt(nonce, plaintext, context)

    def unseal(self, sealed: bytes, *, context: bytes) -> bytes:
        """Reverse seal(); raises if the data or its context was changed."""
        return self._seal.decrypt(sealed[:12], sealed[12:], context)
