"""Request size limit: a body above SHUYUAN_MAX_BODY_BYTES is refused with 413 before anyone parses it.

A pure ASGI middleware that counts the bytes as they arrive (a missing or lying Content-Length does
not help an attacker) and holds at most the limit in memory. Who audits the refusal is the
composition root's choice (`on_refused`): this module knows only HTTP.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.reasons import Reason
from web.problems import problem

# (the app the request reached, the path, the reason code) -> audited
RefusalHook = Callable[[Any, str, str], Awaitable[None]]


class BodyLimit:
    """Refuse bodies larger than `max_bytes` with 413 `invalid_request`, and audit the refusal."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        on_refused: RefusalHook | None = None,
        larger: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_refused = on_refused
        # Path prefix -> its own limit: the few routes whose documents are legitimately big.
        self.larger = dict(larger or {})

    def limit(self, path: str) -> int:
        """The limit for a request path: its prefix's own, else the general one."""
        return next((n for prefix, n in self.larger.items() if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body up to the limit, then hand it on; refuse at the first byte over it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit(scope.get("path", ""))
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await self._refuse(scope, receive, send, declared.isdigit(), max_bytes)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > max_bytes:
                await self._refuse(scope, receive, send, True, max_bytes)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def _receive() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, _receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, too_large: bool, max_bytes: int
    ) -> None:
        path = scope.get("path", "")
        detail = f"the body is larger than {max_bytes} bytes" if too_large else "bad Content-Length"
        response = problem(413 if too_large else 400, Reason.INVALID_REQUEST, detail, path)
        app: Any = scope.get("app")
        if app is not None and self.on_refused is not None:
            await self.on_refused(app, path, Reason.INVALID_REQUEST.value)
        await response(scope, receive, send)
