"""In-process transport: the embedded mode and unit tests, no broker needed."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from exchange.transport.base import ReplyCheck, SourceTimeout, SourceUnavailable, Transport
from protocol.envelope import SourceReply, SourceRequest
from protocol.jose import JoseFailure

log = logging.getLogger(__name__)

# A connector's entry point: the signed request in, the signed reply out (None: refused unanswered).
SourceHandler = Callable[[bytes], bytes | None]


class MemoryTransport(Transport):
    """Calls registered department handlers directly, in a worker thread, with the same deadline."""

    def __init__(self) -> None:
        self._handlers: dict[str, SourceHandler] = {}
        # Copies of events by recipient, the newest 1000 each: the embedded mode has no subscriber yet
        # (docs/events.md), so nothing else would ever drain them.
        self.events: dict[str, deque[tuple[bytes, list[tuple[str, bytes]]]]] = {}

    async def publish_event(
        self, department: str, message: bytes, *, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        """Keep the copy in the recipient's in-process list."""
        self.events.setdefault(department, deque(maxlen=1000)).append((message, headers))

    def register(self, department: str, handler: SourceHandler) -> None:
        """Serve a department's requests with this handler (its connector)."""
        self._handlers[department] = handler

    def unregister(self, department: str) -> None:
        """Stop serving a department: its requests now time out, as a silent connector's would."""
        self._handlers.pop(department, None)

    async def request(
        self,
        request: SourceRequest,
        message: bytes,
        *,
        accept: ReplyCheck,
        timeout: float,
        key: bytes | None = None,
    ) -> SourceReply:
        """Run the source's handler; a refused or missing reply waits out the deadline, as on Kafka."""
        started = time.monotonic()
        handler = self._handlers.get(request.source)
        if handler is None:
            await asyncio.sleep(timeout)
            raise SourceTimeout(request.source)
        try:
            data = await asyncio.wait_for(asyncio.to_thread(handler, message), timeout)
        except TimeoutError as exc:
            raise SourceTimeout(request.source) from exc
        except Exception as exc:  # a connector bug must not become a gateway 500
            raise SourceUnavailable(f"{request.source}: {type(exc).__name__}") from exc
        if data is not None:
            try:
                return accept(data)
            except JoseFailure as exc:
                log.warning("refused reply from %s: %s", request.source, exc.code)
        await asyncio.sleep(max(0.0, timeout - (time.monotonic() - started)))
        raise SourceTimeout(request.source)
