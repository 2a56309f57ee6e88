"""The registry's key directory as a department sees it: other departments' public keys, and the
gateway's request keys it pinned.

Sources look up a consumer's encryption key here (by department and kid, as the gateway-signed request
names them), consumers the sources' signing keys; both read `GET /v1/departments/{code}/keys`, where
the registry says whether each key is valid, pending, expired or revoked. A key the registry does not
call valid is never used. Answers are cached for `cache_s` (the revocation delay on this side).
"""

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import Key

from protocol.crypto_profile import DEFAULT, CryptoProfile, KeyUse
from protocol.jose import JoseFailure, import_public

Requester = Callable[[str, str], httpx.Response]  # (method, path) -> response, authenticated


class RegistryKeys:
    """Public keys of departments from the registry API, cached per department."""

    def __init__(self, request: Requester, *, profile: CryptoProfile = DEFAULT, cache_s: float = 1.0) -> None:
        self._request = request
        self._profile = profile
        self._cache_s = cache_s
        self._cached: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def entries(self, department: str) -> list[dict[str, Any]]:
        """The department's registered keys (the registry's KeyRead objects); JoseFailure if unreadable."""
        with self._lock:
            cached = self._cached.get(department)
        if cached is not None and time.monotonic() - cached[0] < self._cache_s:
            return cached[1]
        response = self._request("GET", f"/v1/departments/{department}/keys")
        if response.status_code >= 500:
            # Not an answer about the keys: a caller that can wait (an event subscriber) tries again later.
            raise JoseFailure("registry_unavailable", f"the registry answered {response.status_code}")
        try:
            keys = response.json() if response.status_code == 200 else None
        except ValueError:
            keys = None
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise JoseFailure("unknown_key", f"the registry gave no keys of {department[:64]!r}")
        with self._lock:
            self._cached[department] = (time.monotonic(), keys)
        return keys

    def valid_key(self, department: str, use: KeyUse, kid: str) -> Key:
        """The department's key of this use and kid if the registry calls it valid; else JoseFailure."""
        for entry in self.entries(department):
            if entry.get("kid") != kid or entry.get("use") != use:
                continue
            if entry.get("status") == "revoked":
                raise JoseFailure("revoked_key", f"{use} key {kid[:64]!r} of {department[:64]!r} is revoked")
            if entry.get("status") != "valid":
                raise JoseFailure(
                    "unknown_key", f"{use} key {kid[:64]!r} of {department[:64]!r} is not valid now"
                )
            return import_public(entry["jwk"], use=use, profile=self._profile)
        raise JoseFailure("unknown_key", f"{department[:64]!r} has no {use} key {kid[:64]!r}")

    def encryption_key(self, department: str, kid: str) -> Key | None:
        """A consumer's valid encryption key, or None (the `ConsumerKeys` of connectors/runtime.py)."""
        try:
            return self.valid_key(department, "enc", kid)
        except JoseFailure:
            return None


def load_gateway_keys(path: Path, *, profile: CryptoProfile = DEFAULT) -> dict[str, Key]:
    """The gateway's request-signing public keys a connector pins, from a JWKS file (kid -> key).

    The file comes from the exchange's operator (`shuyuan keys gateway-jwks`), not from the network:
    a connector never learns whom to trust from the messages it is meant to check.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["keys"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a JWKS file with a `keys` list") from exc
    keys: dict[str, Key] = {}
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if not isinstance(kid, str) or not kid:
            raise ValueError(f"{path}: every key needs a kid")
        keys[kid] = import_public(entry, use="sig", profile=profile)
    if not keys:
        raise ValueError(f"{path}: no keys")
    return keys
