"""The request-reply transport between the gateway and source departments."""

from abc import ABC, abstractmethod
from collections.abc import Callable

from protocol.envelope import ReplyAddress, SourceReply, SourceRequest
from protocol.errors import ShuyuanError
from protocol.reasons import Reason


class SourceTimeout(ShuyuanError):
    """The source did not answer within the deadline."""

    status = 504
    reason = Reason.SOURCE_TIMEOUT

    def __init__(self, source: str | None = None) -> None:
        super().__init__(f"{source or 'the source'} did not answer within the deadline")
        self.source = source


class SourceUnavailable(Exception):
    """The request could not be delivered to the source."""


# Verifies one candidate reply (protocol/signed_messages.open_reply) and returns it, or raises
# JoseFailure: a reply that fails is dropped and the transport goes on waiting for the genuine one.
ReplyCheck = Callable[[bytes], SourceReply]


class Transport(ABC):
    """Sends one signed request to one source department and waits for its signed reply."""

    @property
    def reply_address(self) -> ReplyAddress | None:
        """Where sources must send replies to this gateway instance (signed into each request)."""
        return None

    async def start(self, departments: list[str]) -> None:  # noqa: B027  (optional hook)
        """Connect, and make sure the topics of these departments exist."""

    async def stop(self) -> None:  # noqa: B027  (optional hook)
        """Flush and disconnect."""

    async def publish_event(
        self, department: str, message: bytes, *, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        """Put one copy of an event on the recipient department's event topic; return once it is
        acknowledged (SourceUnavailable if not). A transport without event topics refuses."""
        raise SourceUnavailable("this transport carries no events")

    @abstractmethod
    async def request(
        self,
        request: SourceRequest,
        message: bytes,
        *,
        accept: ReplyCheck,
        timeout: float,
        key: bytes | None = None,
    ) -> SourceReply:
        """Deliver the signed `message` (of `request`) to its source; the first reply `accept` takes.

        Raises SourceTimeout when no acceptable reply came in time. `key` partitions the request (the
        subject's blind index, never the identifier itself).
        """
