"""What an adapter reads for one element, before the connector signs and encrypts it."""

from typing import Any

from pydantic import BaseModel, ConfigDict

from protocol.envelope import AnswerStatus


class Lookup(BaseModel):
    """One element's value as read from the department's own system; never leaves the connector."""

    model_config = ConfigDict(extra="forbid")
    code: str
    status: AnswerStatus
    value: Any = None
    reason: str | None = None
