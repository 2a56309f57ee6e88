"""The correction recall (纠错回溯): the exchange tells every earlier receiver of a value its source fixed.

Unlike a department's event, a recall is the exchange's own statement, made from its audit chain (who
received the old value is known only there): its publisher is `PLATFORM_PUBLISHER`, which no
department code can be (department codes start with a letter), and its copies are signed with the
gateway's signing key, the one sources already pin for requests (the JWS `typ` keeps the two kinds
apart). Each copy is still encrypted to its recipient: it names the subject, which only the recipient
may read. The recipient re-queries under its own purpose to get the new value; the recall itself
carries no value.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PLATFORM_PUBLISHER = "@shuyuan"
RECALL_TYPE = "correction.recall"
# Routing metadata in the clear (Kafka headers, the event row): codes and ids only, no personal data.
RECALL_ROUTING_FIELDS = ("element", "correction_id")


class RecallPayload(BaseModel):
    """What a recall copy tells its recipient, inside the signed and encrypted copy."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    correction_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    element: str = Field(min_length=1, max_length=80)
    source: str = Field(max_length=32, description="the source department that fixed the value")
    query_ids: list[str] = Field(
        min_length=1, max_length=1000, description="the recipient's own queries that received the old value"
    )
    fixed_at: datetime
    note: str | None = Field(None, max_length=500, description="the source's reason given with the fix")


def recall_event_id(correction_id: str) -> str:
    """The recall's event id: one recall per correction, so a repeated recall is the same event."""
    return f"recall-{correction_id}"


def recall_schema() -> dict[str, Any]:
    """The payload's JSON Schema (what a recipient validates a recall against)."""
    return RecallPayload.model_json_schema()
