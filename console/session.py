"""Signed-cookie sessions of the console, with an idle and an absolute timeout.

Starlette's SessionMiddleware has one fixed max-age and a fixed Secure flag; the console needs both
timeouts (idle: 30 min of inactivity, absolute: 8 h after sign-in, as OWASP's session management
guidance suggests) and the Secure flag whenever the request came over HTTPS.
"""

import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.settings import ConsoleSettings

COOKIE_NAME = "shuyuan_console"
SALT = "shuyuan.console.session"
# Kept across sign-out and expiry: a preference, not an identity.
_KEPT_ON_EXPIRY = ("lang",)


def session_serializer(settings: ConsoleSettings) -> URLSafeSerializer:
    """The signer of session cookies (HMAC with the console's session secret)."""
    return URLSafeSerializer(settings.session_secret.get_secret_value(), salt=SALT)


class ConsoleSessions:
    """ASGI middleware: put the session dict on scope["session"] and write it back signed."""

    def __init__(
        self, app: ASGIApp, *, settings: ConsoleSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self.app = app
        self.settings = settings
        self.serializer = session_serializer(settings)
        self.clock = clock

    def _load(self, scope: Scope) -> tuple[dict[str, Any], bool]:
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                morsel = SimpleCookie(value.decode("latin-1")).get(COOKIE_NAME)
                if morsel is not None:
                    try:
                        data = self.serializer.loads(morsel.value)
                    except BadSignature:
                        return {}, True
                    return (data if isinstance(data, dict) else {}), True
        return {}, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        data, had_cookie = self._load(scope)
        now = self.clock()
        expired = False
        if "uid" in data:
            too_old = now - float(data.get("iat", 0)) > self.settings.absolute_timeout_s
            idle = now - float(data.get("seen", 0)) > self.settings.idle_timeout_s
            if too_old or idle:
                data = {k: data[k] for k in _KEPT_ON_EXPIRY if k in data}
                expired = True
            else:
                data["seen"] = now
        scope["session"] = data
        scope["session_expired"] = expired

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
            value = self.serializer.dumps(session)
            max_age = self.settings.absolute_timeout_s
        else:
            value, max_age = "", 0
        return f"{COOKIE_NAME}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
