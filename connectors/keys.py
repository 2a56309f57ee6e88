"""A department's own private keys: generated and kept at the department, never sent anywhere.

Layout of a key folder (default `var/keys/departments/<dept>/`): one private JWK per file,
`sig-<kid>.jwk.json` and `enc-<kid>.jwk.json`, mode 0600 in a 0700 folder. Several files per use are
normal during a rotation: every encryption key still decrypts, the newest signing key signs. Only the
public halves (`public_jwks`) are registered in the registry.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc.jwk import Key, import_key

from protocol.crypto_profile import DEFAULT, CryptoProfile, KeyUse
from protocol.jose import public_jwk, thumbprint

_SUFFIX = ".jwk.json"


@dataclass
class DepartmentKeys:
    """The private keys of one department, by use and kid, newest last."""

    department: str
    profile: CryptoProfile = DEFAULT
    signing: dict[str, Key] = field(default_factory=dict)
    encryption: dict[str, Key] = field(default_factory=dict)

    @property
    def signing_kid(self) -> str:
        """The kid of the key that signs now (the newest)."""
        if not self.signing:
            raise LookupError(f"department {self.department!r} has no signing key")
        return next(reversed(self.signing))

    @property
    def signing_key(self) -> Key:
        """The key that signs now."""
        return self.signing[self.signing_kid]

    def public_jwks(self) -> list[dict[str, Any]]:
        """The public JWKs (with `use` and kid) to register; never a private parameter."""
        return [
            {**public_jwk(key, kid=kid), "use": use}
            for use, keys in (("sig", self.signing), ("enc", self.encryption))
            for kid, key in keys.items()
        ]


def default_dir(data_dir: Path, department: str) -> Path:
    """Where a department's keys live under a data folder."""
    return data_dir / "keys" / "departments" / department


def add_key(folder: Path, use: KeyUse, *, profile: CryptoProfile = DEFAULT) -> str:
    """Generate one key of this use into the folder (0600); returns its kid (the RFC 7638 thumbprint)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    key = profile.key_type(use).generate()
    kid = thumbprint(key)
    path = folder / f"{use}-{kid}{_SUFFIX}"
    body = json.dumps({**key.as_dict(private=True), "kid": kid, "use": use}).encode()
    # O_EXCL + mode at creation: the private key is never readable by others, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(body)
    return kid


def load(folder: Path, department: str, *, profile: CryptoProfile = DEFAULT) -> DepartmentKeys:
    """Read every private key of a folder; files are ordered by modification time, newest last."""
    keys = DepartmentKeys(department=department, profile=profile)
    files = sorted(folder.glob(f"*{_SUFFIX}"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    for path in files:
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"{path} is readable by others; a private key file must be 0600")
        raw = json.loads(path.read_text(encoding="utf-8"))
        use = raw.get("use")
        if use not in ("sig", "enc") or not profile.key_type(use).matches(raw):
            raise ValueError(f"{path.name}: not a {profile.name} {use} key")
        key = import_key(raw)
        (keys.signing if use == "sig" else keys.encryption)[raw["kid"]] = key
    return keys


def ensure(folder: Path, department: str, *, profile: CryptoProfile = DEFAULT) -> tuple[DepartmentKeys, bool]:
    """Load the department's keys, generating a signing and an encryption key first if there are none."""
    created = False
    existing = load(folder, department, profile=profile) if folder.is_dir() else None
    if existing is None or not existing.signing:
        add_key(folder, "sig", profile=profile)
        created = True
    if existing is None or not existing.encryption:
        add_key(folder, "enc", profile=profile)
        created = True
    return load(folder, department, profile=profile), created
