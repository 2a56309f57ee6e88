"""OpenID Connect Discovery 1.0: the provider's endpoints from {issuer}/.well-known/openid-configuration.

Used by the ID token verifier (the `jwks_uri`, when no JWKS location is configured) and by the citizen
page's sign-in (authorization and token endpoints). The document is cached for the JWKS TTL.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from exchange.transparency.settings import TransparencySettings, secure_url
from protocol.errors import Unauthenticated

log = logging.getLogger(__name__)
WELL_KNOWN = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of a discovery document the exchange uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None = None


def discovery_url(issuer: str) -> str:
    """Where the provider's configuration is (OpenID Connect Discovery 1.0 §4)."""
    return issuer.rstrip("/") + WELL_KNOWN


def parse_metadata(document: Any, *, issuer: str) -> ProviderMetadata:
    """Check a discovery document and take its endpoints; ValueError when it cannot be trusted."""
    if not isinstance(document, dict):
        raise ValueError("the discovery document is not a JSON object")
    # Discovery §4.3: the issuer in the document must be exactly the one it was fetched for, or a
    # provider could speak for another (the mix-up attack).
    if document.get("issuer") != issuer:
        raise ValueError("the discovery document names another issuer")
    urls = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str) or not secure_url(value):
            raise ValueError(f"the discovery document has no usable {name}")
        urls[name] = value
    end = document.get("end_session_endpoint")
    return ProviderMetadata(issuer=issuer, end_session_endpoint=end if isinstance(end, str) else None, **urls)


def _http_get_json(url: str, timeout_s: float) -> Any:
    response = httpx.get(url, timeout=timeout_s, follow_redirects=False)
    response.raise_for_status()
    return response.json()


class Discovery:
    """The configured provider's metadata, fetched on first use and cached for `jwks_ttl_s`."""

    def __init__(
        self,
        settings: TransparencySettings,
        *,
        fetch: Callable[[str, float], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._fetch = fetch or _http_get_json
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._loaded_at = float("-inf")

    def metadata(self) -> ProviderMetadata:
        """The provider's endpoints; Unauthenticated when sign-in is off or the provider is unreachable."""
        issuer = self._settings.oidc_issuer
        if issuer is None:
            raise Unauthenticated("citizen sign-in is not configured on this gateway")
        with self._lock:
            if self._metadata is None or self._clock() - self._loaded_at >= self._settings.jwks_ttl_s:
                try:
                    document = self._fetch(discovery_url(issuer), self._settings.jwks_timeout_s)
                    self._metadata = parse_metadata(document, issuer=issuer)
                except (OSError, ValueError, httpx.HTTPError) as exc:
                    log.warning("the identity provider's configuration could not be loaded: %s", exc)
                    raise Unauthenticated("the identity provider's configuration is unavailable") from exc
                self._loaded_at = self._clock()
            return self._metadata
