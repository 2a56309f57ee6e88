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

SCHEMA_VERSION = "1"

AnswerStatus = Literal["ok", "not_found", "failed"]


def new_message_id() -> str:
    """A fresh, globally unique message id."""
    return uuid.uuid4().hex


class SourceRequest(BaseModel):
    """One request from the gateway to one source department, for the allowed elements only."""

    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(default_factory=new_message_id)
    query_id: str
    consumer: str
    source: str
    subject_type: SubjectType
    # The identifier travels only as a JWE to the source's encryption key (protocol/jose.seal_subject).
    subject_jwe: str = Field(max_length=8192)
    # The consumer's public encryption JWK (with kid) the source must encrypt its answers to. The
    # gateway takes it from the registry; see docs/crypto.md for why the source may trust it.
    consumer_key: dict[str, Any]
    elements: list[str]
    # The registered JSON Schema of each asked element that has one: the source checks a value against
    # it before signing it, so it never vouches for a malformed value (the consumer checks again).
    value_schemas: dict[str, dict[str, Any]] = Field(default_factory=dict)
    service_item: str
    case_no: str
    created_at: datetime = Field(default_factory=utcnow)


class ElementAnswer(BaseModel):
    """A source's answer for one element."""

    model_config = ConfigDict(extra="forbid")
    code: str
    status: AnswerStatus
    # `ok` answers: the value signed by the source (JWS) and encrypted to the consumer (JWE), compact.
    jws_jwe: str | None = Field(None, max_length=96 * 1024)
    reason: str | None = None


class SourceReply(BaseModel):
    """A source department's reply to one SourceRequest."""

    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(default_factory=new_message_id)
    correlation_id: str
    source: str
    answers: list[ElementAnswer]
    created_at: datetime = Field(default_factory=utcnow)


class ReplyAddress(BaseModel):
    """Where a reply must go: the requesting gateway instance's own reply partition."""

    topic: str
    partition: int


Headers = list[tuple[str, bytes]]


def request_headers(req: SourceRequest, reply_to: ReplyAddress) -> Headers:
    """Kafka headers for a request."""
    return [
        ("message-id", req.message_id.encode()),
        ("correlation-id", req.message_id.encode()),
        ("type", b"source.request"),
        ("schema-version", SCHEMA_VERSION.encode()),
        ("sender", b"gateway"),
        ("recipient", req.source.encode()),
        ("created-at", req.created_at.isoformat().encode()),
        ("reply-topic", reply_to.topic.encode()),
        ("reply-partition", str(reply_to.partition).encode()),
    ]


def reply_headers(rep: SourceReply) -> Headers:
    """Kafka headers for a reply."""
    return [
        ("message-id", rep.message_id.encode()),
        ("correlation-id", rep.correlation_id.encode()),
        ("type", b"source.reply"),
        ("schema-version", SCHEMA_VERSION.encode()),
        ("sender", rep.source.encode()),
        ("recipient", b"gateway"),
        ("created-at", rep.created_at.isoformat().encode()),
    ]


def header(headers: Headers | None, name: str) -> str | None:
    """The first value of a header, decoded, or None."""
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8", errors="replace") if value is not None else None
    return None


def reply_address(headers: Headers | None) -> ReplyAddress:
    """Read the reply address from request headers; ValueError when missing or bad."""
    topic = header(headers, "reply-topic")
    partition = header(headers, "reply-partition")
    if not topic or partition is None or not partition.isdigit():
        raise ValueError("request has no valid reply-topic/reply-partition headers")
    return ReplyAddress(topic=topic, partition=int(partition))
