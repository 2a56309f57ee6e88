"""The audit signing key (Ed25519), its fingerprint, and the keys a verifier pins."""

import base64
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_FILE = "audit-ed25519.pem"
PUBLIC_FILE = "audit-ed25519.pub.pem"
FINGERPRINT_PREFIX = "SHA256:"


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Inverse of b64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public: Ed25519PublicKey) -> str:
    """A stable id of a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    """The SubjectPublicKeyInfo PEM of a public key."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_pem(pem: str) -> Ed25519PublicKey:
    """Parse a PEM public key; refuse anything but Ed25519."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def fingerprint(public: Ed25519PublicKey) -> str:
    """`SHA256:` + base64url (no padding) of SHA-256 over the DER SubjectPublicKeyInfo (docs/audit.md)."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return FINGERPRINT_PREFIX + b64url(hashlib.sha256(der).digest())


def parse_fingerprint(text: str) -> str:
    """A fingerprint as given by an officer, checked for its form (`SHA256:` + 43 base64url characters)."""
    text = text.strip()
    if not re.fullmatch(r"SHA256:[A-Za-z0-9_-]{43}", text):
        raise ValueError(f"not an audit key fingerprint (SHA256:<43 base64url characters>): {text!r}")
    return text


@dataclass(frozen=True)
class PinnedKeys:
    """The audit public keys a verifier trusts: never the keys a bundle ships.

    A key pinned by its PEM verifies by itself; a key pinned by fingerprint only lets the verifier
    accept a key shipped in the bundle whose fingerprint is that one.
    """

    keys: tuple[Ed25519PublicKey, ...] = ()
    fingerprints: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *publics: Ed25519PublicKey) -> "PinnedKeys":
        """Pin these public keys."""
        return cls(keys=tuple(publics))

    @classmethod
    def parse(cls, specs: Iterable[str]) -> "PinnedKeys":
        """Pins from `SHA256:...` fingerprints and paths of PEM files (or PEM text); ValueError if bad."""
        publics: list[Ed25519PublicKey] = []
        prints: set[str] = set()
        for spec in (s.strip() for s in specs):
            if not spec:
                continue
            if spec.upper().startswith(FINGERPRINT_PREFIX):
                prints.add(parse_fingerprint(spec))
            elif spec.startswith("-----BEGIN"):
                publics.append(load_public_pem(spec))
            else:
                publics.append(load_public_pem(Path(spec).read_text()))
        return cls(keys=tuple(publics), fingerprints=frozenset(prints))

    def __bool__(self) -> bool:
        return bool(self.keys or self.fingerprints)

    def trusted(self) -> list[str]:
        """The fingerprints of every pinned key, sorted."""
        return sorted({fingerprint(k) for k in self.keys} | self.fingerprints)

    def trusts(self, public: Ed25519PublicKey) -> bool:
        """Whether this public key is pinned (by itself or by its fingerprint)."""
        return fingerprint(public) in self.trusted()

    def by_kid(self, kid: str) -> Ed25519PublicKey | None:
        """The key pinned by PEM with this kid, if any."""
        return next((k for k in self.keys if key_id(k) == kid), None)


@dataclass(frozen=True)
class AuditKeyPair:
    """The private key that signs checkpoints, and its id."""

    private: Ed25519PrivateKey
    kid: str

    @property
    def public(self) -> Ed25519PublicKey:
        """The public half."""
        return self.private.public_key()

    def sign(self, message: bytes) -> str:
        """base64url Ed25519 signature."""
        return b64url(self.private.sign(message))


def load_private(spec: str) -> AuditKeyPair:
    """The audit key from SHUYUAN_AUDIT_SIGNING_KEY: PEM text, or a PKCS#8 PEM file nobody else may read."""
    if spec.lstrip().startswith("-----BEGIN"):
        pem = spec.encode()
    else:
        path = Path(spec)
        if path.stat().st_mode & 0o077:
            raise ValueError(f"{path} is readable by others: chmod 600 it")
        pem = path.read_bytes()
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError("the audit signing key is not an Ed25519 private key")
    return AuditKeyPair(loaded, key_id(loaded.public_key()))


def existing_public(key_dir: Path) -> Ed25519PublicKey | None:
    """The public half of the key in key_dir, if one was created there (never creates one)."""
    if (key_dir / PUBLIC_FILE).exists():
        return load_public_pem((key_dir / PUBLIC_FILE).read_text())
    return None


def load_or_create(key_dir: Path) -> AuditKeyPair:
    """Load the audit key from key_dir, creating it (mode 0600) on first start."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = key_dir / PRIVATE_FILE
    if not path.exists():
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # O_EXCL: two processes starting at once must not both write (and one overwrite) a key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            (key_dir / PUBLIC_FILE).write_text(public_pem(private.public_key()))
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return AuditKeyPair(loaded, key_id(loaded.public_key()))
