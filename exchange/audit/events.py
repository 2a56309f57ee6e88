"""The audit event on the `shuyuan.audit` topic: one record body, before the sealer chains it."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class AuditEvent(BaseModel):
    """A record body as the gateway publishes it; the sealer gives it seq, prev_hash and hash."""

    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    time: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
    gateway: str | None = Field(None, max_length=64)
    actor_department: str | None = Field(None, max_length=64)
    actor_system: str | None = Field(None, max_length=64)
    actor_user: str | None = Field(None, max_length=64)
    action: str = Field(max_length=32)
    subject_index: str | None = Field(None, max_length=64)
    elements: list[str] = Field(default_factory=list, max_length=500)
    service_item: str | None = Field(None, max_length=64)
    case_no: str | None = Field(None, max_length=64)
    decision: str | None = Field(None, max_length=16)
    reason: str | None = Field(None, max_length=32)
    source: str | None = Field(None, max_length=32)
    request_id: str | None = Field(None, max_length=64)
    response_digest: str | None = Field(None, max_length=64)

    def body(self) -> dict[str, object]:
        """The record body the chain hashes."""
        return self.model_dump(exclude={"schema_version"})
