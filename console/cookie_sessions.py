"""Cookie sessions with an idle and an absolute timeout: the one middleware of the console and the
citizen page, each with its own cookie, codec and key.

Starlette's SessionMiddleware has one fixed max-age and a fixed Secure flag; both pages need both
timeouts (idle and absolute, as OWASP's session management guidance suggests) and the Secure flag
whenever the request came over HTTPS.
"""

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any, Protocol

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Kept across sign-out and expiry: a preference, not an identity.
KEPT_ON_EXPIRY = ("lang",)


class SessionTimeouts(Protocol):
    """The settings a cookie session needs (ConsoleSettings and CitizenSettings both have them)."""

    absolute_timeout_s: int
    idle_timeout_s: int
    cookie_secure: bool


class CookieSessions(ABC):
    """ASGI middleware: scope["session"] from the cookie (a bad or expired one is an empty session).

    Subclasses say how the cookie's value is made (`encode`) and read (`decode`: None when forged or
    unreadable), and which session key marks a signed-in session (`identity`).
    """

    cookie_name: str
    identity: str

    def __init__(
        self, app: ASGIApp, *, settings: SessionTimeouts, clock: Callable[[], float] = time.time
    ) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock

    @abstractmethod
    def encode(self, session: dict[str, Any]) -> str:
        """The cookie value of a session."""

    @abstractmethod
    def decode(self, value: str) -> dict[str, Any] | None:
        """The session of a cookie value, or None when it is forged or unreadable."""

    def _load(self, scope: Scope) -> tuple[dict[str, Any], bool]:
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                morsel = SimpleCookie(value.decode("latin-1")).get(self.cookie_name)
                if morsel is not None and morsel.value:
                    return self.decode(morsel.value) or {}, True
        return {}, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        data, had_cookie = self._load(scope)
        now = self.clock()
        expired = False
        if self.identity in data:
            too_old = now - float(data.get("iat", 0)) > self.settings.absolute_timeout_s
            idle = now - float(data.get("seen", 0)) > self.settings.idle_timeout_s
            if too_old or idle:
                data = {k: data[k] for k in KEPT_ON_EXPIRY if k in data}
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
            value, max_age = self.encode(session), self.settings.absolute_timeout_s
        else:
            value, max_age = "", 0
        return f"{self.cookie_name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
