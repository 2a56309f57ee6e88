"""Signed-cookie sessions of the console (itsdangerous), with an idle and an absolute timeout
(console/cookie_sessions.py: 30 min of inactivity, 8 h after sign-in by default)."""

import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.types import ASGIApp

from console.cookie_sessions import CookieSessions
from console.settings import ConsoleSettings

COOKIE_NAME = "shuyuan_console"
SALT = "shuyuan.console.session"


def session_serializer(settings: ConsoleSettings) -> URLSafeSerializer:
    """The signer of session cookies (HMAC with the console's session secret)."""
    return URLSafeSerializer(settings.session_secret.get_secret_value(), salt=SALT)


class ConsoleSessions(CookieSessions):
    """ASGI middleware: the session dict on scope["session"], written back signed."""

    cookie_name = COOKIE_NAME
    identity = "uid"

    def __init__(
        self, app: ASGIApp, *, settings: ConsoleSettings, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(app, settings=settings, clock=clock)
        self.serializer = session_serializer(settings)

    def encode(self, session: dict[str, Any]) -> str:
        """The signed cookie value."""
        return str(self.serializer.dumps(session))

    def decode(self, value: str) -> dict[str, Any] | None:
        """The session, or None when the signature is wrong."""
        try:
            data = self.serializer.loads(value)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None
