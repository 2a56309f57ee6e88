"""Messages between the gateway and source departments, and their Kafka framing.

Headers carry routing metadata (DESIGN.md §7); the value is JSON validated by pydantic.
Never pickle: a message must be readable by any department's stack.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.clock import utcnow
from protocol.identifiers import SubjectType

SCHEMA_VERSION = "2"  # 2: requests and replies are signed JWS (protocol/signed_messages.py)

AnswerStatus = Literal["ok", "not_found", "failed"]


def new_message_id() -> str:
    """A fresh, globally unique message id."""
    return uuid.uuid4().hex


class ReplyAddress(BaseModel):
    """Where a reply must go: the requesting gateway instance's own partition of the reply topic."""

    model_config = ConfigDict(extra="forbid")
    topic: str = Field(max_length=249)
    partition: int = Field(ge=0, le=100_000)


class SourceRequest(BaseModel):
    """One request from the gateway to one source department, for the allowed elements only.

    It travels signed by the gateway (protocol/signed_messages.py): every field below, the reply
    address and the expiry included, is covered by that signature, and a source answers nothing that
    does not verify against the gateway keys it pinned.
    """

    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(default_factory=new_message_id, max_length=64)
    query_id: str = Field(max_length=128)
    consumer: str = Field(max_length=64)
    source: str = Field(max_length=64)
    subject_type: SubjectType
    # The identifier travels only as a JWE to the source's encryption key (protocol/jose.seal_subject).
    subject_jwe: str = Field(max_length=8192)
    # The kid of the consumer's encryption key the answers are encrypted to. The key itself is never
    # taken from the request: the source resolves it from the registry's key directory (consumer, kid).
    consumer_kid: str = Field(min_length=1, max_length=128)
    elements: list[str] = Field(max_length=500)
    # The registered JSON Schema of each asked element that has one: the source checks a value against
    # it before signing it, so it never vouches for a malformed value (the consumer checks again).
    value_schemas: dict[str, dict[str, Any]] = Field(default_factory=dict)
    service_item: str = Field(max_length=64)
    case_no: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    # After this the gateway has given up waiting: a source drops the request unanswered.
    expires_at: datetime
    # The gateway instance's reply partition; None only on the in-process transport.
    reply_to: ReplyAddress | None = None


class ElementAnswer(BaseModel):
    """A source's answer for one element."""

    model_config = ConfigDict(extra="forbid")
    code: str
    status: AnswerStatus
    # `ok` answers: the value signed by the source (JWS) and encrypted to the consumer (JWE), compact.
    jws_jwe: str | None = Field(None, max_length=96 * 1024)
    reason: str | None = None


class SourceReply(BaseModel):
    """A source department's reply to one SourceRequest; travels signed by that source."""

    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(default_factory=new_message_id)
    correlation_id: str
    source: str
    answers: list[ElementAnswer]
    created_at: datetime = Field(default_factory=utcnow)


Headers = list[tuple[str, bytes]]


def request_headers(req: SourceRequest) -> Headers:
    """Kafka headers for a request: routing metadata only, never trusted (the signed value is)."""
    return [
        ("message-id", req.message_id.encode()),
        ("correlation-id", req.message_id.encode()),
        ("type", b"source.request"),
        ("schema-version", SCHEMA_VERSION.encode()),
        ("sender", b"gateway"),
        ("recipient", req.source.encode()),
        ("created-at", req.created_at.isoformat().encode()),
    ]


def reply_headers(request: SourceRequest) -> Headers:
    """Kafka headers for the reply to a request: routing hints only (the signed value is trusted)."""
    return [
        ("correlation-id", request.message_id.encode()),
        ("type", b"source.reply"),
        ("schema-version", SCHEMA_VERSION.encode()),
        ("sender", request.source.encode()),
        ("recipient", b"gateway"),
    ]


def header(headers: Headers | None, name: str) -> str | None:
    """The first value of a header, decoded, or None."""
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8", errors="replace") if value is not None else None
    return None
