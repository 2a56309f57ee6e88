"""The citizen page's session: an encrypted, authenticated cookie (JWE, dir + A256GCM).

The console signs its cookie (itsdangerous); this one is encrypted as well, because it names a data
subject: it keeps the subject's blind index and a masked identifier, never the identifier, and the
sign-in flow's state, nonce and PKCE verifier while the citizen is at the provider. HttpOnly,
SameSite=Lax (the provider's redirect back is a top-level GET), Path=/citizen, Secure on HTTPS.
"""

import json
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.citizen.settings import CitizenSettings

COOKIE_NAME = "shuyuan_citizen"
_ALGS = ["dir", "A256GCM"]
_KEPT_ON_EXPIRY = ("lang",)


def cookie_key(settings: CitizenSettings) -> OctKey:
    """The cookie's key: derived from the session secret for this one job (HKDF-SHA256)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"shuyuan.citizen.session.v1").derive(
        settings.session_secret.get_secret_value().encode()
    )
    return OctKey.import_key(raw)


class CitizenSessions:
    """ASGI middleware: scope["session"] from the cookie (a bad or expired one is an empty session)."""

    def __init__(
        self, app: ASGIApp, *, settings: CitizenSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self.app = app
        self.settings = settings
        self.key = cookie_key(settings)
        self.clock = clock

    def _load(self, scope: Scope) -> tuple[dict[str, Any], bool]:
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                morsel = SimpleCookie(value.decode("latin-1")).get(COOKIE_NAME)
                if morsel is not None and morsel.value:
                    try:
                        opened = jwe.decrypt_compact(morsel.value, self.key, algorithms=_ALGS)
                        data = json.loads(opened.plaintext or b"")
                    except (JoseError, ValueError, TypeError):
                        return {}, True
                    return (data if isinstance(data, dict) else {}), True
        return {}, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        data, had_cookie = self._load(scope)
        now = self.clock()
        if "subject" in data:
            too_old = now - float(data.get("iat", 0)) > self.settings.absolute_timeout_s
            idle = now - float(data.get("seen", 0)) > self.settings.idle_timeout_s
            if too_old or idle:
                data = {k: data[k] for k in _KEPT_ON_EXPIRY if k in data}
                scope["session_expired"] = True
            else:
                data["seen"] = now
        scope["session"] = data

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                if session or had_cookie:
                    MutableHeaders(scope=message).append("set-cookie", self._cookie(scope, session))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, scope: Scope, session: dict[str, Any]) -> str:
        path = scope.get("root_path") or "/"
        secure = "; Secure" if self.settings.cookie_secure or scope.get("scheme") == "https" else ""
        if session:
            plaintext = json.dumps(session, separators=(",", ":")).encode()
            value = jwe.encrypt_compact(
                {"alg": "dir", "enc": "A256GCM"}, plaintext, self.key, algorithms=_ALGS
            )
            max_age = self.settings.absolute_timeout_s
        else:
            value, max_age = "", 0
        return f"{COOKIE_NAME}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
