"""The one audit record type and its factories: every factory yields a valid record, unknown actions are
refused, and a record built by a factory hashes exactly as the equivalent row dict did before."""

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from exchange.audit import chain, records
from exchange.audit.events import BODY_FIELDS, AuditAction, AuditEvent, AuditRecord
from protocol.reasons import Reason

T = datetime(2026, 11, 28, 8, 0, 0, 1, tzinfo=UTC)
INDEX = "ab" * 32
QUERY = {
    "gateway": "gw-0",
    "department": "zjj",
    "subject_index": INDEX,
    "service_item": "330100-GZF-001",
    "case_no": "住建-2026-1",
    "request_id": "q-00000001",
}


def legacy_body(row: Mapping[str, Any], *, time: datetime, event_id: str) -> dict[str, Any]:
    """The record body the chain hashed before the typed record (store.body_from_row, as it was)."""
    elements = row.get("elements") or []
    return {
        "time": chain.format_time(time),
        "event_id": event_id,
        "gateway": row.get("gateway"),
        "actor_department": row.get("actor"),
        "actor_system": row.get("actor_system"),
        "actor_user": row.get("actor_user"),
        "action": row.get("action"),
        "subject_index": row.get("subject_index"),
        "elements": json.loads(elements) if isinstance(elements, str) else list(elements),
        "service_item": row.get("service_item"),
        "case_no": row.get("case_no"),
        "decision": row.get("decision"),
        "reason": row.get("reason"),
        "source": row.get("source"),
        "request_id": row.get("query_id"),
        "response_digest": row.get("response_digest"),
    }


def _query_row(action: str, **fields: Any) -> dict[str, Any]:
    """A row as QueryContext.row built it (DB column names, elements as JSON text)."""
    row = {
        "gateway": "gw-0",
        "actor": "zjj",
        "action": action,
        "subject_index": INDEX,
        "service_item": "330100-GZF-001",
        "case_no": "住建-2026-1",
        "query_id": "q-00000001",
        "elements": json.dumps(fields.pop("elements", []), ensure_ascii=False),
        **dict.fromkeys(("decision", "reason", "source", "response_digest")),
    }
    return row | fields


# (factory call, the equivalent row dict of the code before the typed record)
CASES: dict[str, tuple[Callable[[], AuditRecord], dict[str, Any]]] = {
    "query step": (
        lambda: records.query_step(
            AuditAction.ELEMENT_DECIDED,
            **QUERY,
            elements=["person.name"],
            decision="allow",
            source="psb",
        ),
        _query_row("element.decided", elements=["person.name"], decision="allow", source="psb"),
    ),
    "query released": (
        lambda: records.query_step(
            AuditAction.QUERY_RELEASED, **QUERY, elements=["person.name"], response_digest="cd" * 32
        ),
        _query_row("query.released", elements=["person.name"], response_digest="cd" * 32),
    ),
    "query refused": (
        lambda: records.query_step(
            AuditAction.QUERY_REFUSED,
            **QUERY,
            elements=["person.name"],
            decision="deny",
            reason=Reason.CLIENT_DISABLED,
        ),
        _query_row("query.refused", elements=["person.name"], decision="deny", reason=Reason.CLIENT_DISABLED),
    ),
    "request denied": (
        lambda: records.request_denied(
            gateway="gw-0", reason="insufficient_scope", department="zjj", system="zjj-housing"
        ),
        {
            "gateway": "gw-0",
            "actor": "zjj",
            "actor_system": "zjj-housing",
            "action": "request.denied",
            "subject_index": None,
            "service_item": None,
            "case_no": None,
            "query_id": None,
            "elements": json.dumps([]),
            "decision": "deny",
            "reason": "insufficient_scope",
            "source": None,
            "response_digest": None,
        },
    ),
    "token denied": (
        lambda: records.request_denied(
            gateway="gw-0", reason="unauthenticated", department="anonymous", token_endpoint=True
        ),
        {
            "gateway": "gw-0",
            "actor": "anonymous",
            "actor_system": None,
            "action": "token.denied",
            "elements": json.dumps([]),
            "decision": "deny",
            "reason": "unauthenticated",
        },
    ),
    "registry change": (
        lambda: records.registry_change(
            gateway="gw-0",
            event_type="agreement.approved",
            entity="agreement",
            code="17",
            department="psb",
            system="psb-admin",
            user="clerk-wang",
        ),
        {
            "gateway": "gw-0",
            "actor": "psb",
            "actor_system": "psb-admin",
            "actor_user": "clerk-wang",
            "action": "registry.agreement.approved",
            "subject_index": None,
            "elements": [],
            "service_item": None,
            "case_no": None,
            "decision": None,
            "reason": None,
            "source": None,
            "query_id": "agreement:17",
            "response_digest": None,
        },
    ),
    "registry element change": (
        lambda: records.registry_change(
            gateway="gw-0", event_type="element.created", entity="element", code="person.name"
        ),
        {
            "gateway": "gw-0",
            "action": "registry.element.created",
            "elements": ["person.name"],
            "query_id": "element:person.name",
        },
    ),
    "registry write without an event type": (
        lambda: records.registry_change(
            gateway="gw-0", event_type="registry.changed", entity="registry", code=""
        ),
        {"gateway": "gw-0", "action": "registry.changed", "elements": [], "query_id": None},
    ),
    "console sign-in": (
        lambda: records.console_sign_in(gateway="gw-0", username="officer", outcome="console.login"),
        {
            "gateway": "gw-0",
            "actor": None,
            "actor_user": "officer",
            "action": "console.login",
            "elements": [],
            "decision": "allow",
            "reason": None,
        },
    ),
    "console sign-in refused": (
        lambda: records.console_sign_in(gateway="gw-0", username="officer", outcome="console.login_locked"),
        {
            "gateway": "gw-0",
            "actor": None,
            "actor_user": "officer",
            "action": "console.login_locked",
            "elements": [],
            "decision": "deny",
            "reason": "locked",
        },
    ),
    "audit export": (
        lambda: records.audit_exported(
            gateway="gw-0",
            officer="officer",
            subject_index=INDEX,
            element="person.name",
            service_item="330100-GZF-001",
            department="zjj",
        ),
        {
            "gateway": "gw-0",
            "actor": None,
            "actor_user": "console:officer",
            "action": "audit.exported",
            "subject_index": INDEX,
            "elements": ["person.name"],
            "service_item": "330100-GZF-001",
            "decision": "allow",
            "query_id": None,
            "response_digest": None,
            "case_no": None,
            "reason": None,
            "source": "zjj",
        },
    ),
    "transparency viewed": (
        lambda: records.transparency_viewed(gateway="gw-0", actor="citizen", subject_index=INDEX),
        {"gateway": "gw-0", "actor": "citizen", "action": "transparency.viewed", "subject_index": INDEX},
    ),
    "transparency hidden": (
        lambda: records.transparency_hidden(
            gateway="gw-0",
            actor="citizen",
            subject_index=INDEX,
            request_id="q-00000001",
            service_item="330100-GZF-001",
            case_no="CASE-1",
            elements=["person.name"],
        ),
        {
            "gateway": "gw-0",
            "actor": "citizen",
            "action": "transparency.hidden",
            "subject_index": INDEX,
            "query_id": "q-00000001",
            "service_item": "330100-GZF-001",
            "case_no": "CASE-1",
            "elements": ["person.name"],
            "decision": "deny",
            "reason": "restricted",
        },
    ),
    "transparency restricted": (
        lambda: records.transparency_restricted(
            gateway="gw-0", department="zjj", system="zjj-test", subject_index=INDEX, request_id="q-00000001"
        ),
        {
            "gateway": "gw-0",
            "actor": "zjj",
            "actor_system": "zjj-test",
            "action": "transparency.restricted",
            "subject_index": INDEX,
            "query_id": "q-00000001",
            "decision": "deny",
            "reason": "restricted",
        },
    ),
}


@pytest.mark.parametrize("kind", CASES)
def test_each_factory_yields_a_valid_record(kind: str) -> None:
    record = CASES[kind][0]()
    assert isinstance(record, AuditRecord)
    # Valid as it stands and as the message on the audit topic (what the sealer validates).
    assert AuditEvent.model_validate_json(record.model_dump_json()) == record
    assert set(record.body()) == set(BODY_FIELDS)
    assert chain.parse_time(record.time) and len(record.event_id) == 32


@pytest.mark.parametrize("kind", CASES)
def test_a_factory_record_hashes_as_the_equivalent_dict_did(kind: str) -> None:
    factory, row = CASES[kind]
    event_id = uuid.uuid4().hex
    record = factory().model_copy(update={"time": chain.format_time(T), "event_id": event_id})
    before = chain.seal(legacy_body(row, time=T, event_id=event_id), seq=42, prev_hash="11" * 32)
    after = chain.seal(record, seq=42, prev_hash="11" * 32)
    assert after == before
    assert chain.canonical(after) == chain.canonical(before)


def test_the_record_holds_exactly_the_chain_fields_but_seq_and_the_hashes() -> None:
    assert set(BODY_FIELDS) == set(chain.RECORD_FIELDS) - {"seq", "prev_hash", "hash"}
    assert "schema_version" not in AuditRecord(action=AuditAction.QUERY_RECEIVED).body()
    assert AuditEvent is AuditRecord  # one model: the topic carries the record itself


def test_every_action_in_use_is_in_the_enum() -> None:
    used = {
        "query.received", "element.decided", "source.dispatched", "source.answered", "source.timed_out",
        "source.failed", "answer.rejected", "query.released", "query.replayed", "query.refused",
        "query.deferred", "query.result_fetched", "callback.sent", "callback.failed",
        "query.denied", "request.denied", "token.denied", "console.login", "console.login_invalid",
        "console.login_locked", "console.login_demo_password", "console.login_ended_session",
        "audit.exported", "transparency.viewed",
        "transparency.hidden", "transparency.restricted", "transparency.approved", "message.dead_lettered",
        "audit.cosigned", "audit.cosignature_refused", "audit.witness_refused",
        "correction.filed", "correction.refused", "correction.accepted", "correction.in_progress",
        "correction.fixed", "correction.rejected", "correction.wrong_source", "correction.forwarded",
        "correction.withdrawn", "correction.escalated",
        "event.published", "event.routed", "event.refused", "event.delivered", "event.acknowledged",
        "event.redelivered", "event.overdue", "event.dead_lettered",
        "consent.requested", "consent.approved", "consent.refused", "consent.expired", "consent.denied",
    }  # fmt: skip
    assert {a.value for a in AuditAction} == used
    assert all(len(a) <= 32 for a in AuditAction)


@pytest.mark.parametrize(
    "action", ["query.exploded", "login", "registry", "registry.", "Registry.element.created", "", "x" * 40]
)
def test_an_unknown_action_is_refused(action: str) -> None:
    with pytest.raises(ValidationError):
        AuditRecord(action=action)
    with pytest.raises(ValidationError):
        AuditEvent.model_validate_json(
            AuditRecord(action=AuditAction.QUERY_RECEIVED).model_dump_json().replace("query.received", action)
        )


@pytest.mark.parametrize(
    "action",
    ["registry.element.created", "registry.agreement.approved", "registry.changed", "registry.key.revoked"],
)
def test_registry_changes_are_open_under_the_registry_prefix(action: str) -> None:
    assert AuditRecord(action=action).action == action


def test_the_record_refuses_other_fields_and_decisions() -> None:
    with pytest.raises(ValidationError):
        AuditRecord.model_validate({"action": "query.received", "actor": "zjj"})  # the old column name
    with pytest.raises(ValidationError):
        AuditRecord(action=AuditAction.QUERY_RECEIVED, decision="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        AuditEvent.model_validate_json(b'{"schema_version": 2, "action": "query.received"}')


def test_factories_refuse_an_action_of_another_kind() -> None:
    with pytest.raises(ValueError, match="not a step of a query"):
        records.query_step(AuditAction.AUDIT_EXPORTED, **QUERY, elements=[])
    with pytest.raises(ValueError):
        records.console_sign_in(gateway="gw-0", username="u", outcome="console.login_bribed")
    with pytest.raises(ValueError):
        records.console_sign_in(gateway="gw-0", username="u", outcome="query.received")


def test_the_audit_unavailable_denial_names_the_query_and_every_element() -> None:
    steps = [
        records.query_step(AuditAction.QUERY_RECEIVED, **QUERY, elements=["person.name", "person.address"]),
        records.query_step(AuditAction.SOURCE_ANSWERED, **QUERY, elements=["person.name"], source="psb"),
    ]
    denial = records.audit_unavailable_denial(steps)
    assert denial is not None
    assert (denial.action, denial.decision, denial.reason) == ("query.denied", "deny", "audit_unavailable")
    assert (denial.request_id, denial.actor_department, denial.subject_index) == ("q-00000001", "zjj", INDEX)
    assert denial.elements == ["person.address", "person.name"]
    assert denial.event_id not in {s.event_id for s in steps}
    refused = records.request_denied(gateway="gw-0", reason="unauthenticated", department="anonymous")
    assert records.audit_unavailable_denial([refused]) is None  # no query, no answer to deny


def test_the_topic_message_is_the_record_with_its_schema_version() -> None:
    record = CASES["query step"][0]()
    message = json.loads(record.model_dump_json())
    assert message["schema_version"] == 1
    assert {k: v for k, v in message.items() if k != "schema_version"} == record.body()


def test_correction_factories_name_the_correction_and_refuse_other_actions() -> None:
    from exchange.audit import records

    step = records.correction_step(
        AuditAction.CORRECTION_FORWARDED,
        gateway="gw-0",
        department="xzsp",
        system="steward",
        correction_id="a" * 32,
        element="person.name",
        subject_index="b" * 64,
        source="hrss",
    )
    assert (step.request_id, step.source, step.elements, step.decision) == (
        f"correction:{'a' * 32}",
        "hrss",
        ["person.name"],
        "allow",
    )
    with pytest.raises(ValueError, match="not a step of a correction"):
        records.correction_step(
            AuditAction.CORRECTION_REFUSED,
            gateway=None,
            department=None,
            system=None,
            correction_id="a",
            element="e.x",
            subject_index="b",
            source="psb",
        )
    refused = records.correction_refused(
        gateway=None,
        department="xzsp",
        system=None,
        query_id="q-1",
        element="e.x",
        subject_index=None,
        reason="not_received",
    )
    assert (refused.action, refused.decision, refused.reason, refused.request_id) == (
        "correction.refused",
        "deny",
        "not_received",
        "q-1",
    )
