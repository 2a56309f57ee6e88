"""Citizens' and enterprises' sign-in: an OpenID Connect ID token checked against the provider's JWKS.

The gateway is a relying party only: the provider (e.g. a provincial 统一身份认证 service) signs the
ID token, and we check its signature, issuer, audience and times, then read the subject identifier
from a configured claim. Nothing of the token is stored; the identifier becomes a blind index.
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from exchange.transparency.discovery import Discovery
from exchange.transparency.settings import ALLOWED_ALGS, TransparencySettings
from protocol.errors import Unauthenticated
from protocol.identifiers import InvalidSubjectId, SubjectType, normalise_subject_id
from protocol.jose import JoseFailure, peek_header

log = logging.getLogger(__name__)
# An unknown kid may mean the provider rotated its keys; refetching is allowed at most this often, so
# tokens with made-up kids cannot turn the gateway into a load generator against the provider.
MIN_REFRESH_S = 10.0


@dataclass(frozen=True)
class Citizen:
    """The signed-in subject: a person (resident ID) or an enterprise (USCC), canonical form."""

    subject_type: SubjectType
    subject_id: str


class JwksSource:
    """The provider's public keys: a local file, or a URL fetched and cached for a short TTL."""

    def __init__(
        self,
        settings: TransparencySettings,
        *,
        fetch: Callable[[str, float], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        discovery: Discovery | None = None,
    ) -> None:
        self._settings = settings
        self._fetch = fetch or _http_get_json
        self._clock = clock
        self._discovery = discovery or Discovery(settings, fetch=fetch, clock=clock)
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._loaded_at = float("-inf")

    def key_set(self, *, refresh: bool = False) -> KeySet:
        """The current key set; reloaded when older than the TTL, or on request (rate-limited)."""
        with self._lock:
            age = self._clock() - self._loaded_at
            stale = age >= self._settings.jwks_ttl_s
            if self._keys is None or stale or (refresh and age >= MIN_REFRESH_S):
                self._keys = self._load()
                self._loaded_at = self._clock()
            return self._keys

    def _load(self) -> KeySet:
        try:
            if self._settings.jwks_file is not None:
                document = json.loads(self._settings.jwks_file.read_text(encoding="utf-8"))
            else:
                url = self._settings.jwks_url or self._discovery.metadata().jwks_uri
                document = self._fetch(url, self._settings.jwks_timeout_s)
            # Private members of a key are dropped: we only ever verify.
            keys = [_public(k) for k in document["keys"]]
            return KeySet.import_key_set({"keys": keys})
        except (OSError, ValueError, KeyError, TypeError, httpx.HTTPError, JoseError) as exc:
            log.warning("the identity provider's JWKS could not be loaded: %s", type(exc).__name__)
            raise Unauthenticated("the identity provider's keys are unavailable") from exc


def _public(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k not in {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}}


def _http_get_json(url: str, timeout_s: float) -> Any:
    response = httpx.get(url, timeout=timeout_s, follow_redirects=False)
    response.raise_for_status()
    return response.json()


class IdTokenVerifier:
    """Checks ID tokens of the configured provider and names their subject."""

    def __init__(
        self,
        settings: TransparencySettings,
        *,
        jwks: JwksSource | None = None,
        discovery: Discovery | None = None,
    ) -> None:
        self._settings = settings
        self.discovery = discovery or Discovery(settings)
        self._jwks = jwks or JwksSource(settings, discovery=self.discovery)

    def verify(self, token: str, *, now: int | None = None, nonce: str | None = None) -> Citizen:
        """The citizen an ID token proves; raises Unauthenticated on any defect.

        `nonce`: the value the relying party sent in its authorization request (the citizen page does);
        the token must carry exactly it (OpenID Connect Core §3.1.3.7 step 11). A bearer of a token
        obtained elsewhere (the accesses API) passes none.
        """
        s = self._settings
        if not s.enabled:
            raise Unauthenticated("citizen sign-in is not configured on this gateway")
        assert s.oidc_issuer is not None and s.oidc_audience is not None, (
            "enabled settings name an issuer and an audience (checked by TransparencySettings)"
        )
        try:
            header = peek_header(token)
        except JoseFailure as exc:
            raise Unauthenticated("the ID token is malformed") from exc
        if header.get("alg") not in ALLOWED_ALGS:
            raise Unauthenticated("the ID token's algorithm is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the ID token names no key (kid)")
        keys = self._jwks.key_set()
        if kid not in {k.kid for k in keys.keys}:
            keys = self._jwks.key_set(refresh=True)  # the provider may have rotated its keys
        try:
            decoded = jwt.decode(token, keys, algorithms=list(ALLOWED_ALGS))
            claims = decoded.claims
            options: dict[str, jwt.ClaimsOption] = {
                "iss": {"essential": True, "value": s.oidc_issuer},
                "aud": {"essential": True, "value": s.oidc_audience},
                "exp": {"essential": True},
                "iat": {"essential": True},
            }
            if nonce is not None:
                options["nonce"] = {"essential": True, "value": nonce}
            registry = jwt.JWTClaimsRegistry(now=now, leeway=s.leeway_s, **options)
            registry.validate(claims)
        except (JoseError, ValueError, TypeError) as exc:
            # The detail names the kind of failure only, never a claim value (they are personal data).
            raise Unauthenticated(f"the ID token is not valid ({type(exc).__name__})") from exc
        return self._subject(claims)

    def _subject(self, claims: dict[str, Any]) -> Citizen:
        candidates: tuple[tuple[SubjectType, str], ...] = (
            ("person", self._settings.person_claim),
            ("enterprise", self._settings.enterprise_claim),
        )
        found: list[tuple[SubjectType, Any]] = [
            (kind, claims[claim]) for kind, claim in candidates if claim in claims
        ]
        if len(found) != 1:
            raise Unauthenticated("the ID token must carry exactly one subject identifier claim")
        subject_type, value = found[0]
        if not isinstance(value, str):
            raise Unauthenticated("the subject identifier claim is not a string")
        try:
            return Citizen(subject_type, normalise_subject_id(subject_type, value))
        except InvalidSubjectId as exc:
            raise Unauthenticated("the subject identifier in the ID token is not valid") from exc
