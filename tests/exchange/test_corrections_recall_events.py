"""The correction recall (纠错回溯) on the embedded exchange: a fix tells every earlier receiver of the
value, by a copy signed by the gateway and encrypted to each; refusals; forged recalls are refused."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.events import EventClient
from exchange.audit.models import AuditEntry
from exchange.events.models import Delivery, Event
from protocol.event_copies import EventClaims, EventSubject, seal_copy
from protocol.jose import JoseFailure, import_public, public_jwk
from protocol.recall import PLATFORM_PUBLISHER, RECALL_TYPE, recall_event_id
from shuyuan.embedded import Embedded
from shuyuan.sample_systems import SYSTEMS
from tests.authkit import bearer
from tests.exchange.conftest import as_department
from tests.exchange.test_corrections_api import CORRECTIONS, filing, move, query, steward


def recipient(client: TestClient, embedded: Embedded, dept: str, *, pinned: bool = True) -> EventClient:
    """A department's events SDK, pinning the gateway's signing keys as a connector does."""
    cid = next(c for c, code, _, _ in SYSTEMS if code == dept)
    token = bearer(client, embedded.system_keys[cid], cid)["Authorization"].removeprefix("Bearer ")
    gateway_keys = embedded.state.request_signer.public_keys() if pinned else None
    return EventClient(client, keys=embedded.keys[dept], auth=token, gateway_keys=gateway_keys)


def recall_records(embedded: Embedded, correction_id: str) -> list[tuple[str, str | None, str | None]]:
    """(action, recipient, actor) of the recall's audit records."""
    with embedded.state.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.action, AuditEntry.source, AuditEntry.actor_department)
            .where(AuditEntry.request_id == f"event:{recall_event_id(correction_id)}")
            .order_by(AuditEntry.seq)  # type: ignore[arg-type]
        ).all()
    return [(r.action, r.source, r.actor_department) for r in rows]


def fixed_correction(client: TestClient, embedded: Embedded) -> tuple[str, dict[str, list[str]], str]:
    """zjj twice and xzsp once receive person.name, zjj files, psb fixes: (id, receivers, person)."""
    person = embedded.subjects.demo_person
    zjj_1 = query(client, embedded, "zjj", person, ["person.name", "person.gender"])
    zjj_2 = query(client, embedded, "zjj", person, ["person.name"])
    xzsp = query(client, embedded, "xzsp", person, ["person.name"])
    query(client, embedded, "xzsp", person, ["person.gender"])  # another element: not recalled
    filed = client.post(
        CORRECTIONS, json=filing(person, zjj_1), headers=as_department(client, embedded, "zjj")
    )
    assert filed.status_code == 201, filed.text
    cid = filed.json()["id"]
    psb = as_department(client, embedded, "psb")
    assert move(client, cid, psb, "accepted").status_code == 200
    done = move(client, cid, psb, "fixed", reason="户籍系统已更正姓名")
    assert done.status_code == 200, done.text
    return cid, {"xzsp": [xzsp], "zjj": sorted([zjj_1, zjj_2])}, person


def test_a_fix_is_recalled_to_every_department_that_received_the_old_value(
    client: TestClient, embedded: Embedded
) -> None:
    cid, receivers, person = fixed_correction(client, embedded)
    assert set(embedded.transport.events) >= {"zjj", "xzsp"}
    assert "psb" not in embedded.transport.events  # the source fixed it: it is not told
    for dept, query_ids in receivers.items():
        value, headers = embedded.transport.events[dept][-1]
        event = recipient(client, embedded, dept).open(value, headers)
        assert (event.type, event.publisher, event.event_id) == (
            RECALL_TYPE,
            PLATFORM_PUBLISHER,
            f"recall-{cid}",
        )
        assert (event.subject_type, event.subject_id) == ("person", person)
        assert event.payload["query_ids"] == query_ids  # each is told its own queries only
        assert (event.payload["element"], event.payload["source"], event.payload["correction_id"]) == (
            "person.name",
            "psb",
            cid,
        )
        assert event.payload["note"] == "户籍系统已更正姓名"
        assert event.routing == {"element": "person.name", "correction_id": cid}
        receiver = recipient(client, embedded, dept)
        assert receiver.delivered(event.delivery_id)["state"] == "delivered"
        assert receiver.ack(event.delivery_id)["state"] == "acknowledged"
    assert recall_records(embedded, cid) == [
        ("event.published", None, None),
        ("event.routed", "xzsp", None),
        ("event.routed", "zjj", None),
        ("event.delivered", "xzsp", "xzsp"),
        ("event.acknowledged", "xzsp", "xzsp"),
        ("event.delivered", "zjj", "zjj"),
        ("event.acknowledged", "zjj", "zjj"),
    ]
    # The gateway stores no subject in the clear: the event row holds the blind index only.
    with embedded.state.engine.connect() as conn:
        row = conn.execute(select(Event).where(Event.id == recall_event_id(cid))).one()  # type: ignore[arg-type]
    assert person not in str(tuple(row))

    # Asked again (source or steward): the same event, its deliveries' states; nothing published twice.
    again = client.post(f"{CORRECTIONS}/{cid}/recall", headers=as_department(client, embedded, "psb"))
    assert again.status_code == 200, again.text
    assert [(d["recipient"], d["state"]) for d in again.json()["deliveries"]] == [
        ("xzsp", "acknowledged"),
        ("zjj", "acknowledged"),
    ]
    assert client.post(f"{CORRECTIONS}/{cid}/recall", headers=steward(client, embedded)).status_code == 200
    assert len(recall_records(embedded, cid)) == 7


def test_a_recall_of_a_correction_not_fixed_is_refused_and_audited(
    client: TestClient, embedded: Embedded
) -> None:
    person = embedded.subjects.demo_person
    qid = query(client, embedded, "zjj", person, ["person.name"])
    zjj, psb = as_department(client, embedded, "zjj"), as_department(client, embedded, "psb")
    cid = client.post(CORRECTIONS, json=filing(person, qid), headers=zjj).json()["id"]
    refused = client.post(f"{CORRECTIONS}/{cid}/recall", headers=psb)
    assert (refused.status_code, refused.json()["reason"]) == (409, "correction_not_fixed")
    assert recall_records(embedded, cid) == [("event.refused", None, "psb")]
    # The filer is not the one who recalls; another department does not even see the correction.
    assert client.post(f"{CORRECTIONS}/{cid}/recall", headers=zjj).json()["reason"] == "forbidden"
    xzsp = as_department(client, embedded, "xzsp")
    assert client.post(f"{CORRECTIONS}/{cid}/recall", headers=xzsp).status_code == 404
    assert embedded.transport.events.get("zjj", []) == []


def test_a_rejected_correction_is_not_recalled(client: TestClient, embedded: Embedded) -> None:
    person = embedded.subjects.demo_person
    qid = query(client, embedded, "zjj", person, ["person.name"])
    cid = client.post(
        CORRECTIONS, json=filing(person, qid), headers=as_department(client, embedded, "zjj")
    ).json()["id"]
    psb = as_department(client, embedded, "psb")
    assert move(client, cid, psb, "rejected", reason="户籍记录无误").status_code == 200
    assert embedded.transport.events.get("zjj", []) == []
    assert client.post(f"{CORRECTIONS}/{cid}/recall", headers=psb).json()["reason"] == "correction_not_fixed"


def test_the_sweep_publishes_a_recall_the_fix_did_not(client: TestClient, embedded: Embedded) -> None:
    """A gateway that stopped between the fix and its recall: the periodic sweep publishes it."""
    _, receivers, _ = fixed_correction(client, embedded)
    with embedded.state.engine.begin() as conn:  # as if the recall had never been published
        conn.execute(Delivery.__table__.delete())  # type: ignore[attr-defined]
        conn.execute(Event.__table__.delete())  # type: ignore[attr-defined]
    embedded.transport.events.clear()
    sweep = embedded.state.corrections.recaller.sweep
    assert client.portal.call(sweep) == 1  # type: ignore[union-attr]
    assert set(embedded.transport.events) == set(receivers)
    assert client.portal.call(sweep) == 0  # type: ignore[union-attr]  # once is enough


def test_a_recall_not_signed_by_the_gateway_is_refused(client: TestClient, embedded: Embedded) -> None:
    """A connector that did not pin the gateway's keys cannot trust a recall; a department that signs a
    'recall' in the exchange's name (publisher `@shuyuan`, its own key) is caught by the signature."""
    cid, _, person = fixed_correction(client, embedded)
    value, headers = embedded.transport.events["zjj"][-1]
    with pytest.raises(JoseFailure) as unpinned:
        recipient(client, embedded, "zjj", pinned=False).open(value, headers)
    assert unpinned.value.code == "unknown_key"

    xzsp, zjj = embedded.keys["xzsp"], embedded.keys["zjj"]
    zjj_kid, zjj_key = next(iter(zjj.encryption.items()))
    claims = EventClaims(
        event_id=recall_event_id(cid),
        type=RECALL_TYPE,
        publisher=PLATFORM_PUBLISHER,
        subject=EventSubject(type="person", id=person),
        routing={"element": "person.name", "correction_id": cid},
        payload={
            "correction_id": cid,
            "element": "person.name",
            "source": "psb",
            "query_ids": ["q-forged"],
            "fixed_at": "2026-12-02T00:00:00Z",
        },
        recipient="zjj",
        published_at=datetime.now(UTC),
    )
    forged = seal_copy(
        claims,
        signing_key=xzsp.signing_key,
        signing_kid=xzsp.signing_kid,
        recipient_key=import_public(public_jwk(zjj_key, kid=zjj_kid), use="enc"),
        recipient_kid=zjj_kid,
    )
    with pytest.raises(JoseFailure) as refused:
        recipient(client, embedded, "zjj").open(forged.encode(), headers)
    assert refused.value.code == "unknown_key"  # xzsp's kid is not a gateway key
