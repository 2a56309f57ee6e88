"""The request-reply transport between the gateway and source departments."""

from abc import ABC, abstractmethod

from protocol.envelope import SourceReply, SourceRequest
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


class Transport(ABC):
    """Sends one request to one source department and waits for its reply."""

    async def start(self, departments: list[str]) -> None:  # noqa: B027  (optional hook)
        """Connect, and make sure the topics of these departments exist."""

    async def stop(self) -> None:  # noqa: B027  (optional hook)
        """Flush and disconnect."""

    @abstractmethod
    async def request(
        self, request: SourceRequest, *, timeout: float, key: bytes | None = None
    ) -> SourceReply:
        """Deliver the request to `request.source` and return its reply, or raise SourceTimeout.

        `key` partitions the request (the subject's blind index, never the identifier itself).
        """
