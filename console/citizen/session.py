"""The citizen page's session: an encrypted, authenticated cookie (JWE, dir + A256GCM).

The console signs its cookie (itsdangerous); this one is encrypted as well, because it names a data
subject: it keeps the subject's blind index and a masked identifier, never the identifier, and the
sign-in flow's state, nonce and PKCE verifier while the citizen is at the provider. HttpOnly,
SameSite=Lax (the provider's redirect back is a top-level GET), Path=/citizen, Secure on HTTPS; the
timeouts are console/cookie_sessions.py's.
"""

import json
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from starlette.types import ASGIApp

from console.citizen.settings import CitizenSettings
from console.cookie_sessions import CookieSessions

COOKIE_NAME = "shuyuan_citizen"
_ALGS = ["dir", "A256GCM"]


def cookie_key(settings: CitizenSettings) -> OctKey:
    """The cookie's key: derived from the session secret for this one job (HKDF-SHA256)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"shuyuan.citizen.session.v1").derive(
        settings.session_secret.get_secret_value().encode()
    )
    return OctKey.import_key(raw)


class CitizenSessions(CookieSessions):
    """ASGI middleware: scope["session"] from the encrypted cookie (a bad one is an empty session)."""

    cookie_name = COOKIE_NAME
    identity = "subject"

    def __init__(
        self, app: ASGIApp, *, settings: CitizenSettings, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(app, settings=settings, clock=clock)
        self.key = cookie_key(settings)

    def encode(self, session: dict[str, Any]) -> str:
        """The encrypted cookie value."""
        plaintext = json.dumps(session, separators=(",", ":")).encode()
        return jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, plaintext, self.key, algorithms=_ALGS)

    def decode(self, value: str) -> dict[str, Any] | None:
        """The session, or None when the cookie was not made with this key."""
        try:
            opened = jwe.decrypt_compact(value, self.key, algorithms=_ALGS)
            data = json.loads(opened.plaintext or b"")
        except (JoseError, ValueError, TypeError):
            return None
        return data if isinstance(data, dict) else None
