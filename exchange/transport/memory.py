"""In-process transport: the embedded mode and unit tests, no broker needed."""

import asyncio
from collections.abc import Callable

from exchange.transport.base import SourceTimeout, SourceUnavailable, Transport
from protocol.envelope import SourceReply, SourceRequest

SourceHandler = Callable[[SourceRequest], SourceReply]


class MemoryTransport(Transport):
    """Calls registered department handlers directly, in a worker thread, with the same deadline."""

    def __init__(self) -> None:
        self._handlers: dict[str, SourceHandler] = {}

    def register(self, department: str, handler: SourceHandler) -> None:
        """Serve a department's requests with this handler (its connector)."""
        self._handlers[department] = handler

    def unregister(self, department: str) -> None:
        """Stop serving a department: its requests now time out, as a silent connector's would."""
        self._handlers.pop(department, None)

    async def request(
        self, request: SourceRequest, *, timeout: float, key: bytes | None = None
    ) -> SourceReply:
        """Run the source's handler, or wait out the deadline when nobody serves it."""
        handler = self._handlers.get(request.source)
        if handler is None:
            await asyncio.sleep(timeout)
            raise SourceTimeout(request.source)
        try:
            return await asyncio.wait_for(asyncio.to_thread(handler, request), timeout)
        except TimeoutError as exc:
            raise SourceTimeout(request.source) from exc
        except Exception as exc:  # a connector bug must not become a gateway 500
            raise SourceUnavailable(f"{request.source}: {type(exc).__name__}") from exc
