"""Reason codes of the API contract (DESIGN.md §6): stable, documented, tested."""

from enum import StrEnum


class Reason(StrEnum):
    """Why a request or an element was denied or not answered; the order is the order of checks."""

    INVALID_REQUEST = "invalid_request"
    INVALID_SUBJECT_ID = "invalid_subject_id"
    UNAUTHENTICATED = "unauthenticated"
    CLIENT_DISABLED = "client_disabled"
    UNKNOWN_ELEMENT = "unknown_element"
    RETIRED_ELEMENT = "retired_element"
    UNKNOWN_PURPOSE = "unknown_purpose"
    NOT_NECESSARY_FOR_PURPOSE = "not_necessary_for_purpose"
    NOT_SHARED = "not_shared"
    NO_AGREEMENT = "no_agreement"
    AGREEMENT_EXPIRED = "agreement_expired"
    RATE_LIMITED = "rate_limited"
    SOURCE_UNAVAILABLE = "source_unavailable"
    SOURCE_TIMEOUT = "source_timeout"
    NOT_FOUND = "not_found"
    AUDIT_UNAVAILABLE = "audit_unavailable"
    CONFLICT = "conflict"
    QUERY_IN_PROGRESS = "query_in_progress"
    INSUFFICIENT_SCOPE = "insufficient_scope"  # RFC 6750 §3.1: the token lacks the route's scope
    # Checked where retired_element is (registry/policy.py); listed here so the codes above keep
    # their published positions. A candidate is not yet agreed metadata (DESIGN.md §4).
    CANDIDATE_ELEMENT = "candidate_element"
    # The registry API's own codes (docs/registry.md).
    FORBIDDEN = "forbidden"
    INVALID_TRANSITION = "invalid_transition"
    INVALID_STATE = "invalid_state"
    CONFIRMATION_REQUIRED = "confirmation_required"
    STALE_CONFIRMATION = "stale_confirmation"
    AGREEMENT_NOT_NEEDED = "agreement_not_needed"
    INVALID_VALUE_SCHEMA = "invalid_value_schema"
    IMPORT_FAILED = "import_failed"
    # The gateway's own database did not answer (web/problems.py): nothing was asked or released.
    DATABASE_UNAVAILABLE = "database_unavailable"
    # Events (registry/policy.py publish_reason; docs/events.md).
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    NOT_EVENT_SOURCE = "not_event_source"
    # The copies sent are not for the recipients the subscriptions pick now (exchange/events): ask again.
    RECIPIENTS_CHANGED = "recipients_changed"
    # The routing metadata does not match the routing part of the event type's payload schema.
    INVALID_EVENT_PAYLOAD = "invalid_event_payload"
    # A correction (纠错) may be filed only by a department that received the element for the subject
    # (exchange/corrections: 政务数据共享条例 on 校核纠错, checked against the audit chain).
    NOT_RECEIVED = "not_received"
    # A recall (protocol/recall.py) tells of a fixed value: a correction in any other state has none.
    CORRECTION_NOT_FIXED = "correction_not_fixed"
    # Consent (单独同意, exchange/consent): an element waits for the subject's answer on the citizen page.
    PENDING_CONSENT = "pending_consent"
    CONSENT_REFUSED = "consent_refused"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_ALREADY_ANSWERED = "consent_already_answered"
    NOT_THE_SUBJECT = "not_the_subject"
    # Asynchronous queries (docs/api.md, "Asynchronous queries"): the callback URL is not one registered
    # for the calling system (the SSRF defence), and a stored result already fetched or expired.
    CALLBACK_NOT_REGISTERED = "callback_not_registered"
    RESULT_FETCHED = "result_fetched"
    RESULT_EXPIRED = "result_expired"
    QUERY_INTERRUPTED = "query_interrupted"  # an async run lost with its gateway (a failed poll's reason)
    # Bundles (一件事, docs/registry.md "Bundles"): a step's department must take part in the item, a
    # material belongs to one step at most, and steps and materials name only what the item has.
    STEP_NOT_PARTICIPANT = "step_not_participant"
    MATERIAL_IN_TWO_STEPS = "material_in_two_steps"
    UNKNOWN_MATERIAL = "unknown_material"
    UNKNOWN_SUBJECT_ROLE = "unknown_subject_role"
    # Prefill (docs/api.md "Prefill"): only the item's handler or a participant may prefill it, and
    # every role whose materials it may read must name a subject.
    NOT_PARTICIPANT = "not_participant"
    MISSING_SUBJECT = "missing_subject"


REASON_TITLES: dict[Reason, str] = {
    Reason.INVALID_REQUEST: "The request is malformed",
    Reason.INVALID_SUBJECT_ID: "The subject identifier is invalid",
    Reason.UNAUTHENTICATED: "The caller is not authenticated",
    Reason.CLIENT_DISABLED: "The calling department or system is disabled",
    Reason.INSUFFICIENT_SCOPE: "The access token does not grant the scope this needs",
    Reason.UNKNOWN_ELEMENT: "No such data element in the registry",
    Reason.RETIRED_ELEMENT: "The data element is retired or superseded",
    Reason.CANDIDATE_ELEMENT: "The data element is a candidate, not yet recorded in the catalogue",
    Reason.UNKNOWN_PURPOSE: "No such service item",
    Reason.NOT_NECESSARY_FOR_PURPOSE: "The service item does not need this element",
    Reason.NOT_SHARED: "The element is not shared (不予共享)",
    Reason.NO_AGREEMENT: "Conditional element without an approved sharing agreement",
    Reason.AGREEMENT_EXPIRED: "The sharing agreement is no longer valid",
    Reason.RATE_LIMITED: "Too many requests",
    Reason.SOURCE_UNAVAILABLE: "The source department could not answer",
    Reason.SOURCE_TIMEOUT: "The source department did not answer in time",
    Reason.NOT_FOUND: "The source holds no such record",
    Reason.AUDIT_UNAVAILABLE: "The audit log cannot be written; nothing is released",
    Reason.CONFLICT: "The resource already exists or the idempotency key was reused",
    Reason.QUERY_IN_PROGRESS: "An earlier request with this query_id is still being answered, or was cut off",
    Reason.FORBIDDEN: "The acting user or department may not do this",
    Reason.INVALID_TRANSITION: "The registration status cannot move this way",
    Reason.INVALID_STATE: "The resource is not in a state that allows this",
    Reason.CONFIRMATION_REQUIRED: "Confirm the impact list before superseding or retiring",
    Reason.STALE_CONFIRMATION: "The impact list changed since it was confirmed",
    Reason.AGREEMENT_NOT_NEEDED: "Unconditional elements need no sharing agreement",
    Reason.INVALID_VALUE_SCHEMA: "The value schema is not a valid JSON Schema",
    Reason.IMPORT_FAILED: "The import was refused; nothing was imported",
    Reason.DATABASE_UNAVAILABLE: "The exchange's database does not answer; nothing was released",
    Reason.UNKNOWN_EVENT_TYPE: "No such active event type in the registry",
    Reason.NOT_EVENT_SOURCE: "Only the event type's one source department may publish it",
    Reason.RECIPIENTS_CHANGED: "The copies are not for the event's current recipients; ask for them again",
    Reason.INVALID_EVENT_PAYLOAD: "The routing metadata does not match the event type's payload schema",
    Reason.NOT_RECEIVED: "The department did not receive this element for this subject in that query",
    Reason.PENDING_CONSENT: "The element waits for the subject's consent",
    Reason.CONSENT_REFUSED: "The subject refused consent",
    Reason.CONSENT_EXPIRED: "The consent request expired unanswered",
    Reason.CONSENT_ALREADY_ANSWERED: "The consent request was already answered",
    Reason.NOT_THE_SUBJECT: "Only the person or enterprise the request is about may answer it",
    Reason.CORRECTION_NOT_FIXED: "Only a fixed correction is recalled to the value's earlier receivers",
    Reason.CALLBACK_NOT_REGISTERED: "The callback URL is not registered for the calling system",
    Reason.RESULT_FETCHED: "The asynchronous result was already fetched; it is released once",
    Reason.RESULT_EXPIRED: "The asynchronous result expired and was deleted",
    Reason.QUERY_INTERRUPTED: "The gateway running the asynchronous query stopped before it was answered",
    Reason.STEP_NOT_PARTICIPANT: "A step's department neither handles nor takes part in the service item",
    Reason.MATERIAL_IN_TWO_STEPS: "A material is named by two steps of the bundle",
    Reason.UNKNOWN_MATERIAL: "A step names a material the service item does not have",
    Reason.UNKNOWN_SUBJECT_ROLE: "A material names a subject role the service item does not have",
    Reason.NOT_PARTICIPANT: "The caller neither handles nor takes part in the service item",
    Reason.MISSING_SUBJECT: "No subject is given for a role whose materials the caller may read",
}
