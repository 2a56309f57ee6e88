"""Named crypto profiles: every algorithm the flows use is chosen here, never in the flows themselves.

A profile names the JWS signature algorithm, the JWE key-management and content-encryption algorithms,
the key types they need and the MAC of blind indexes. `protocol/jose.py` and the key code read only the
profile, so a 国密 profile (SM2 / SM3 / SM4, see docs/crypto.md) is one more `register_profile` call
plus the joserfc algorithm models it names, without touching the query flow.
"""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from joserfc.jwk import Key, OKPKey

KeyUse = Literal["sig", "enc"]
DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class KeyType:
    """The JWK key type and curve a profile needs for one key use."""

    kty: str
    crv: str
    generate: Callable[[], Key]

    def matches(self, jwk: dict[str, Any]) -> bool:
        """True when a JWK dict is of this type and curve."""
        return jwk.get("kty") == self.kty and jwk.get("crv") == self.crv


@dataclass(frozen=True)
class CryptoProfile:
    """One consistent set of algorithms."""

    name: str
    jws_alg: str
    jwe_alg: str
    jwe_enc: str
    sig_key: KeyType
    enc_key: KeyType
    mac: Callable[[bytes, bytes], bytes]
    mac_name: str

    def key_type(self, use: KeyUse) -> KeyType:
        """The key type of signing (`sig`) or encryption (`enc`) keys."""
        return self.sig_key if use == "sig" else self.enc_key

    @property
    def jwe_algorithms(self) -> list[str]:
        """The only algorithms a JWE of this profile may name (no algorithm negotiation by a sender)."""
        return [self.jwe_alg, self.jwe_enc]

    def blind_index(self, key: bytes, message: bytes) -> str:
        """The keyed MAC of a message, hex: joins records about a subject without storing it."""
        return self.mac(key, message).hex()


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


# RFC 9864 ("fully-specified algorithms") deprecates the polymorphic `EdDSA` name in favour of
# `Ed25519`: the same signature (RFC 8032), but the name alone fixes the curve, so no key can make a
# verifier pick another one. joserfc warns on `EdDSA` and implements `Ed25519`.
DEFAULT = CryptoProfile(
    name=DEFAULT_PROFILE,
    jws_alg="Ed25519",
    jwe_alg="ECDH-ES+A256KW",
    jwe_enc="A256GCM",
    sig_key=KeyType("OKP", "Ed25519", lambda: OKPKey.generate_key("Ed25519")),
    enc_key=KeyType("OKP", "X25519", lambda: OKPKey.generate_key("X25519")),
    mac=_hmac_sha256,
    mac_name="HMAC-SHA256",
)

_PROFILES: dict[str, CryptoProfile] = {DEFAULT.name: DEFAULT}


def register_profile(profile: CryptoProfile) -> None:
    """Make a profile available by name; a name is registered once."""
    if profile.name in _PROFILES:
        raise ValueError(f"crypto profile {profile.name!r} is already registered")
    _PROFILES[profile.name] = profile


def get_profile(name: str = DEFAULT_PROFILE) -> CryptoProfile:
    """The profile of this name; KeyError names the ones there are."""
    try:
        return _PROFILES[name]
    except KeyError:
        raise KeyError(f"no crypto profile {name!r}; known: {sorted(_PROFILES)}") from None


def profile_names() -> list[str]:
    """Every registered profile's name."""
    return sorted(_PROFILES)
