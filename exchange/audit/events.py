"""The one audit record type: a record body as the gateway writes it, before the chain seals it.

`AuditRecord` is what every writer takes (`AuditWriter.write`, `AuditPublisher.write`), what the
Kafka path publishes on `<ns>.audit` and what the sealer validates when it consumes it (so it is
also `AuditEvent`: one model, not two). Its fields are `chain.RECORD_FIELDS` without the three the
chain gives (`seq`, `prev_hash`, `hash`), under the same names the chain, the database columns and
the exports use: nothing is renamed on the way. Records are built by the factories of
`exchange/audit/records.py`, one per kind.
"""

import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from exchange.audit import chain
from protocol.clock import utcnow

SCHEMA_VERSION: Literal[1] = 1


class AuditAction(StrEnum):
    """Every step the audit chain records, except registry changes (see `RegistryAction`)."""

    # One query (exchange/queries/service.py).
    QUERY_RECEIVED = "query.received"
    ELEMENT_DECIDED = "element.decided"
    SOURCE_DISPATCHED = "source.dispatched"
    SOURCE_ANSWERED = "source.answered"
    SOURCE_TIMED_OUT = "source.timed_out"
    SOURCE_FAILED = "source.failed"
    ANSWER_REJECTED = "answer.rejected"
    QUERY_RELEASED = "query.released"
    QUERY_REPLAYED = "query.replayed"
    QUERY_REFUSED = "query.refused"
    # Asynchronous queries (exchange/queries/async_runs.py): answered `202` and run in the background,
    # the stored result released once to its consumer, and each callback attempt.
    QUERY_DEFERRED = "query.deferred"
    QUERY_RESULT_FETCHED = "query.result_fetched"
    CALLBACK_SENT = "callback.sent"
    CALLBACK_FAILED = "callback.failed"
    # The audit path was down: recorded once it is back (writer.py).
    QUERY_DENIED = "query.denied"
    # Refusals of the authentication layer (exchange/auth/denials.py).
    REQUEST_DENIED = "request.denied"
    TOKEN_DENIED = "token.denied"  # noqa: S105 (an action, not a secret)
    # Console sign-ins (console/views/auth.py): `console.login_<failure>` of console/users/service.py.
    CONSOLE_LOGIN = "console.login"
    CONSOLE_LOGIN_INVALID = "console.login_invalid"
    CONSOLE_LOGIN_LOCKED = "console.login_locked"
    CONSOLE_LOGIN_DEMO_PASSWORD = "console.login_demo_password"  # noqa: S105 (an action, not a secret)
    # A session cookie replayed after its sign-out (console/web.py current_user): refused.
    CONSOLE_LOGIN_ENDED_SESSION = "console.login_ended_session"
    # A security officer's bundle download (console/views/audit.py).
    AUDIT_EXPORTED = "audit.exported"
    # The witness (exchange/audit/witness.py): a co-signature kept, one the log refused (it does not
    # verify), and the witness refusing to co-sign the log's newest tree (truncated or rewritten).
    AUDIT_COSIGNED = "audit.cosigned"
    AUDIT_COSIGNATURE_REFUSED = "audit.cosignature_refused"
    AUDIT_WITNESS_REFUSED = "audit.witness_refused"
    # Consent (单独同意, exchange/consent): asked by a query, answered (or not) by the subject.
    CONSENT_REQUESTED = "consent.requested"
    CONSENT_APPROVED = "consent.approved"
    CONSENT_REFUSED = "consent.refused"
    CONSENT_EXPIRED = "consent.expired"
    CONSENT_DENIED = "consent.denied"  # an answer refused: not the subject, already answered, expired
    # Citizen transparency (exchange/transparency/api.py).
    TRANSPARENCY_VIEWED = "transparency.viewed"
    TRANSPARENCY_HIDDEN = "transparency.hidden"
    TRANSPARENCY_RESTRICTED = "transparency.restricted"
    TRANSPARENCY_APPROVED = "transparency.approved"  # a long restriction approved by a reviewer
    # Corrections (纠错, exchange/corrections): filed, refused, each state move, escalation.
    CORRECTION_FILED = "correction.filed"
    CORRECTION_REFUSED = "correction.refused"
    CORRECTION_ACCEPTED = "correction.accepted"
    CORRECTION_IN_PROGRESS = "correction.in_progress"
    CORRECTION_FIXED = "correction.fixed"
    CORRECTION_REJECTED = "correction.rejected"
    CORRECTION_WRONG_SOURCE = "correction.wrong_source"
    CORRECTION_FORWARDED = "correction.forwarded"  # a steward re-routed it to another source
    CORRECTION_WITHDRAWN = "correction.withdrawn"
    CORRECTION_ESCALATED = "correction.escalated"  # a deadline passed: the stewards are told
    # Events (双告知, exchange/events): published and routed (one per recipient) before any copy is
    # sent, refused, then each delivery's moves: delivered, acknowledged, redelivered, overdue, dead-lettered.
    EVENT_PUBLISHED = "event.published"
    EVENT_ROUTED = "event.routed"
    EVENT_REFUSED = "event.refused"
    EVENT_DELIVERED = "event.delivered"
    EVENT_ACKNOWLEDGED = "event.acknowledged"
    EVENT_REDELIVERED = "event.redelivered"
    EVENT_OVERDUE = "event.overdue"
    EVENT_DEAD_LETTERED = "event.dead_lettered"
    # A message a source (or the sealer) refused and dead-lettered (exchange/dead_letters.py).
    MESSAGE_DEAD_LETTERED = "message.dead_lettered"


REGISTRY_PREFIX = "registry."
# Registry changes are `registry.<registry event type>` (e.g. `registry.agreement.approved`), and they
# are open-ended on purpose: the registry services compose their event types at run time
# (f"agreement.{what}", f"element.{action}", f"dispute.{resolution}", ...) and every registry feature
# adds some. Listing them here would tie the audit to every registry service, and a type missing from
# the list would turn an already committed change into a record that cannot be built, i.e. an
# unaudited change. So the enum above is the closed set, and the registry namespace is the one open
# one: a `registry.` prefix and a code-like rest, checked by the model.
RegistryAction = Annotated[
    str, StringConstraints(pattern=r"^registry\.[a-z0-9_]+(\.[a-z0-9_]*)*$", max_length=32)
]
AuditDecision = Literal["allow", "deny"]

_EVENT_ID = r"^[A-Za-z0-9_-]{8,64}$"
_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"


def new_event_id() -> str:
    """A fresh event id (the sealer dedupes on it, so a retried write is harmless)."""
    return uuid.uuid4().hex


def now_text() -> str:
    """The current time in the one text form of a record's time."""
    return chain.format_time(utcnow())


class AuditRecord(BaseModel):
    """An audit record body; the chain gives it seq, prev_hash and hash (fields in docs/audit.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Not hashed (the chain hashes `body()`): the version of this message on the audit topic.
    schema_version: Literal[1] = SCHEMA_VERSION
    time: str = Field(default_factory=now_text, pattern=_TIME)
    event_id: str = Field(default_factory=new_event_id, pattern=_EVENT_ID)
    gateway: str | None = Field(None, max_length=64)
    actor_department: str | None = Field(None, max_length=64)
    actor_system: str | None = Field(None, max_length=64)
    actor_user: str | None = Field(None, max_length=64)
    action: AuditAction | RegistryAction
    subject_index: str | None = Field(None, max_length=64)
    elements: list[str] = Field(default_factory=list, max_length=500)
    service_item: str | None = Field(None, max_length=64)
    case_no: str | None = Field(None, max_length=64)
    decision: AuditDecision | None = None
    reason: str | None = Field(None, max_length=32)
    source: str | None = Field(None, max_length=32)
    request_id: str | None = Field(None, max_length=64)
    response_digest: str | None = Field(None, max_length=64)

    def body(self) -> dict[str, Any]:
        """The record body the chain hashes: plain JSON values under the record's field names."""
        return self.model_dump(mode="json", exclude={"schema_version"})


# The message on the `<ns>.audit` topic is the record itself.
AuditEvent = AuditRecord

BODY_FIELDS = tuple(f for f in AuditRecord.model_fields if f != "schema_version")
assert set(BODY_FIELDS) == set(chain.RECORD_FIELDS) - {"seq", "prev_hash", "hash"}
