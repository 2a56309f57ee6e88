"""One small factory per kind of audit record; each returns the one record type, `AuditRecord`.

Nothing else assembles a record: the query flow, the authentication layer's refusals, registry
changes, console sign-ins and exports, citizen transparency and the audit-unavailable denial all come
through here, so a record always carries every field under its own name (docs/audit.md).
"""

from collections.abc import Sequence
from datetime import datetime

from exchange.audit import chain
from exchange.audit.events import REGISTRY_PREFIX, AuditAction, AuditDecision, AuditRecord
from protocol.reasons import Reason

# The steps of one query that `query_step` builds (the audit-unavailable denial has its own factory).
QUERY_STEPS = frozenset(
    {
        AuditAction.QUERY_RECEIVED,
        AuditAction.ELEMENT_DECIDED,
        AuditAction.SOURCE_DISPATCHED,
        AuditAction.SOURCE_ANSWERED,
        AuditAction.SOURCE_TIMED_OUT,
        AuditAction.SOURCE_FAILED,
        AuditAction.ANSWER_REJECTED,
        AuditAction.QUERY_RELEASED,
        AuditAction.QUERY_REPLAYED,
        AuditAction.QUERY_REFUSED,
        AuditAction.QUERY_DEFERRED,
        AuditAction.QUERY_RESULT_FETCHED,
        AuditAction.CALLBACK_SENT,
        AuditAction.CALLBACK_FAILED,
    }
)
CORRECTION_STEPS = frozenset(a for a in AuditAction if a.startswith("correction.")) - {
    AuditAction.CORRECTION_REFUSED
}
EVENT_STEPS = frozenset(a for a in AuditAction if a.startswith("event."))
CONSOLE_SIGN_INS = frozenset(a for a in AuditAction if a.startswith(AuditAction.CONSOLE_LOGIN.value))


def _time(time: datetime | None) -> dict[str, str]:
    return {} if time is None else {"time": chain.format_time(time)}


def query_step(
    action: AuditAction,
    *,
    gateway: str | None,
    department: str,
    subject_index: str,
    service_item: str,
    case_no: str,
    request_id: str,
    elements: Sequence[str],
    system: str | None = None,
    user: str | None = None,
    decision: AuditDecision | None = None,
    reason: str | None = None,
    source: str | None = None,
    response_digest: str | None = None,
    time: datetime | None = None,
) -> AuditRecord:
    """One step of a query by `department` (its client `system`, for its caseworker `user`) about a
    subject, for a purpose; `request_id` is the query id."""
    if action not in QUERY_STEPS:
        raise ValueError(f"{action} is not a step of a query")
    return AuditRecord(
        **_time(time),
        gateway=gateway,
        actor_department=department,
        actor_system=system,
        actor_user=user,
        action=action,
        subject_index=subject_index,
        elements=list(elements),
        service_item=service_item,
        case_no=case_no,
        decision=decision,
        reason=reason,
        source=source,
        request_id=request_id,
        response_digest=response_digest,
    )


def audit_unavailable_denial(records: Sequence[AuditRecord]) -> AuditRecord | None:
    """The `query.denied` record of a query whose audit write failed (written once the path is back).

    None when the records belong to no query (e.g. a refused request's own record: it is retried as it
    is, there is no answer to deny).
    """
    queries = [r for r in records if r.request_id]
    if not queries:
        return None
    first = queries[0]
    return AuditRecord(
        gateway=first.gateway,
        actor_department=first.actor_department,
        actor_system=first.actor_system,
        actor_user=first.actor_user,
        action=AuditAction.QUERY_DENIED,
        subject_index=first.subject_index,
        elements=sorted({e for r in records for e in r.elements}),
        service_item=first.service_item,
        case_no=first.case_no,
        decision="deny",
        reason=Reason.AUDIT_UNAVAILABLE.value,
        request_id=first.request_id,
    )


def request_denied(
    *,
    gateway: str | None,
    reason: str,
    department: str,
    system: str | None = None,
    token_endpoint: bool = False,
) -> AuditRecord:
    """A request the authentication layer refused: who, where (token endpoint or not) and why, no content."""
    return AuditRecord(
        gateway=gateway,
        actor_department=department,
        actor_system=system,
        action=AuditAction.TOKEN_DENIED if token_endpoint else AuditAction.REQUEST_DENIED,
        decision="deny",
        reason=reason,
    )


def registry_change(
    *,
    gateway: str | None,
    event_type: str,
    entity: str,
    code: str,
    department: str | None = None,
    system: str | None = None,
    user: str | None = None,
) -> AuditRecord:
    """A committed registry change, `registry.<event type>`, with `request_id` = `<entity>:<code>`.

    The element concerned is in `elements`, a service item in `service_item`.
    """
    action = event_type if event_type.startswith(REGISTRY_PREFIX) else f"{REGISTRY_PREFIX}{event_type}"
    return AuditRecord(
        gateway=gateway,
        actor_department=department,
        actor_system=system,
        actor_user=user,
        action=action[:32],
        elements=[code] if entity == "element" and code else [],
        service_item=code if entity == "service_item" else None,
        request_id=f"{entity}:{code}"[:64] if code else None,
    )


def console_sign_in(*, gateway: str | None, username: str, outcome: str) -> AuditRecord:
    """A console sign-in attempt: `console.login` (allow) or `console.login_<why>` (deny, reason why)."""
    action = AuditAction(outcome[:32])
    if action not in CONSOLE_SIGN_INS:
        raise ValueError(f"{outcome!r} is not a console sign-in outcome")
    allowed = action == AuditAction.CONSOLE_LOGIN
    return AuditRecord(
        gateway=gateway,
        actor_user=username[:64],
        action=action,
        decision="allow" if allowed else "deny",
        reason=None if allowed else action.removeprefix("console.login_")[:32],
    )


def audit_exported(
    *,
    gateway: str | None,
    officer: str,
    subject_index: str | None = None,
    element: str | None = None,
    service_item: str | None = None,
    department: str | None = None,
) -> AuditRecord:
    """A security officer's bundle download, with the filter it was made with (`source` = department)."""
    return AuditRecord(
        gateway=gateway,
        actor_user=f"console:{officer}"[:64],
        action=AuditAction.AUDIT_EXPORTED,
        subject_index=subject_index,
        elements=[element] if element else [],
        service_item=service_item,
        decision="allow",
        source=department,
    )


def transparency_viewed(*, gateway: str | None, actor: str, subject_index: str) -> AuditRecord:
    """A citizen (or enterprise) looked at the accesses to their data."""
    return AuditRecord(
        gateway=gateway,
        actor_department=actor,
        action=AuditAction.TRANSPARENCY_VIEWED,
        subject_index=subject_index,
    )


def transparency_hidden(
    *,
    gateway: str | None,
    actor: str,
    subject_index: str,
    request_id: str,
    service_item: str | None,
    case_no: str | None,
    elements: Sequence[str],
) -> AuditRecord:
    """An access left out of a citizen's view because its department restricted it."""
    return AuditRecord(
        gateway=gateway,
        actor_department=actor,
        action=AuditAction.TRANSPARENCY_HIDDEN,
        subject_index=subject_index,
        elements=list(elements),
        service_item=service_item,
        case_no=case_no,
        decision="deny",
        reason="restricted",
        request_id=request_id,
    )


def transparency_restricted(
    *,
    gateway: str | None,
    department: str,
    system: str | None,
    subject_index: str | None,
    request_id: str,
) -> AuditRecord:
    """A department restricted one of its accesses in the citizen's view (recorded before it is stored)."""
    return AuditRecord(
        gateway=gateway,
        actor_department=department,
        actor_system=system,
        action=AuditAction.TRANSPARENCY_RESTRICTED,
        subject_index=subject_index,
        decision="deny",
        reason="restricted",
        request_id=request_id,
    )


def transparency_approved(
    *,
    gateway: str | None,
    department: str,
    system: str | None,
    subject_index: str | None,
    request_id: str,
    restricting_department: str,
) -> AuditRecord:
    """A steward or the security officer approved a restriction beyond the default (before it is stored)."""
    return AuditRecord(
        gateway=gateway,
        actor_department=department,
        actor_system=system,
        action=AuditAction.TRANSPARENCY_APPROVED,
        subject_index=subject_index,
        decision="deny",  # the access stays hidden from the citizen
        reason="restricted",
        request_id=request_id,
        source=restricting_department,
    )


def correction_step(
    action: AuditAction,
    *,
    gateway: str | None,
    department: str | None,
    system: str | None,
    correction_id: str,
    element: str,
    subject_index: str,
    source: str,
) -> AuditRecord:
    """A correction filed, moved, forwarded or escalated by `department` (None: the gateway's own
    deadline check); `source` is the department it is routed to (after a forward: the new one),
    `request_id` is `correction:<id>`."""
    if action not in CORRECTION_STEPS:
        raise ValueError(f"{action} is not a step of a correction")
    return AuditRecord(
        gateway=gateway,
        actor_department=department,
        actor_system=system,
        action=action,
        subject_index=subject_index,
        elements=[element],
        decision="allow",
        source=source,
        request_id=f"correction:{correction_id}"[:64],
    )


def correction_refused(
    *,
    gateway: str | None,
    department: str,
    system: str | None,
    query_id: str,
    element: str,
    subject_index: str | None,
    reason: str,
) -> AuditRecord:
    """A correction refused before it was filed (e.g. `not_received`); `request_id` is the query it named."""
    return AuditRecord(
        gateway=gateway,
        actor_department=department,
        actor_system=system,
        action=AuditAction.CORRECTION_REFUSED,
        subject_index=subject_index,
        elements=[element],
        decision="deny",
        reason=reason[:32],
        request_id=query_id[:64],
    )


def event_step(
    action: AuditAction,
    *,
    gateway: str | None,
    department: str | None,
    system: str | None,
    event_id: str,
    event_type: str,
    subject_index: str | None,
    recipient: str | None = None,
    reason: str | None = None,
) -> AuditRecord:
    """One step of an event (双告知) by `department` (None: the gateway's redelivery task); `source` is
    the recipient of the delivery it concerns, `request_id` is `event:<id>`, `elements` the event type."""
    if action not in EVENT_STEPS:
        raise ValueError(f"{action} is not a step of an event")
    return AuditRecord(
        gateway=gateway,
        actor_department=department,
        actor_system=system,
        action=action,
        subject_index=subject_index,
        elements=[event_type],
        decision="deny" if action == AuditAction.EVENT_REFUSED else "allow",
        reason=reason,
        source=recipient,
        request_id=f"event:{event_id}"[:64],
    )


def dead_letter(
    *, gateway: str | None, reported_by: str | None, reason: str, request_id: str | None
) -> AuditRecord:
    """A message refused and dead-lettered by `reported_by` (a source, or None for the sealer), and why.

    `request_id` is the message id the dead letter names; nothing of the message's content is kept.
    """
    return AuditRecord(
        gateway=gateway,
        actor_department=reported_by,
        source=reported_by,
        action=AuditAction.MESSAGE_DEAD_LETTERED,
        decision="deny",
        reason=reason[:32],
        request_id=request_id[:64] if request_id else None,
    )


def witness_step(
    *,
    gateway: str | None,
    action: AuditAction,
    department: str | None,
    system: str | None,
    witness: str | None,
    tree_size: int,
    reason: str | None = None,
) -> AuditRecord:
    """A witness's co-signature kept or refused, or its refusal to co-sign (`actor_user` = its key)."""
    allowed = action is AuditAction.AUDIT_COSIGNED
    return AuditRecord(
        gateway=gateway,
        actor_department=department,
        actor_system=system,
        actor_user=witness[:64] if witness else None,
        action=action,
        decision="allow" if allowed else "deny",
        reason=None if allowed else (reason or Reason.INVALID_REQUEST)[:32],
        request_id=f"tree-{tree_size}",
    )


CONSENT_STEPS = frozenset(
    {
        AuditAction.CONSENT_REQUESTED,
        AuditAction.CONSENT_APPROVED,
        AuditAction.CONSENT_REFUSED,
        AuditAction.CONSENT_EXPIRED,
        AuditAction.CONSENT_DENIED,
    }
)


def consent_step(
    action: AuditAction,
    *,
    gateway: str | None,
    actor: str | None,
    system: str | None,
    consent_id: str,
    consumer: str,
    elements: list[str],
    subject_index: str,
    service_item: str,
    case_no: str,
    reason: str | None = None,
) -> AuditRecord:
    """A consent request asked (actor: the consumer), answered (actor `citizen`), expired (None: the
    gateway) or an answer refused; `source` names the asking department, `request_id` `consent:<id>`."""
    if action not in CONSENT_STEPS:
        raise ValueError(f"{action} is not a step of a consent request")
    return AuditRecord(
        gateway=gateway,
        actor_department=actor,
        actor_system=system,
        action=action,
        subject_index=subject_index,
        elements=elements,
        service_item=service_item,
        case_no=case_no,
        decision="deny" if action in (AuditAction.CONSENT_DENIED, AuditAction.CONSENT_REFUSED) else "allow",
        reason=reason,
        source=consumer,
        request_id=f"consent:{consent_id}"[:64],
    )
