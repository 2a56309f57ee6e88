"""Attack: a department tries to make other departments believe the exchange recalled a value.

A correction recall tells its receivers a value they hold was wrong (DESIGN.md §5): a forged one could
make a department throw away good data or re-query on a pretext. Only the exchange publishes recalls,
signed with the gateway key the connectors pin; every way a department could pass one off is refused.
"""

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import col

from exchange.audit.models import AuditEntry
from exchange.events.models import Event
from protocol.event_copies import EventClaims, EventSubject, seal_copy
from protocol.jose import JoseFailure, import_public, public_jwk
from protocol.recall import PLATFORM_PUBLISHER, RECALL_TYPE
from shuyuan.embedded import Embedded
from tests.exchange.conftest import as_department
from tests.exchange.test_corrections_recall_events import fixed_correction, recipient


def _forged_copy(embedded: Embedded, *, publisher: str, signer: str, person: str) -> str:
    """A recall to zjj sealed with a department's own (valid, registered) signing key."""
    signing, zjj = embedded.keys[signer], embedded.keys["zjj"]
    zjj_kid, zjj_key = next(iter(zjj.encryption.items()))
    claims = EventClaims(
        event_id="recall-forged-0001",
        type=RECALL_TYPE,
        publisher=publisher,
        subject=EventSubject(type="person", id=person),
        routing={"element": "person.name", "correction_id": "forged"},
        payload={
            "correction_id": "forged",
            "element": "person.name",
            "source": "psb",
            "query_ids": ["q-forged"],
            "fixed_at": "2026-12-02T00:00:00Z",
        },
        recipient="zjj",
        published_at=datetime.now(UTC),
    )
    return seal_copy(
        claims,
        signing_key=signing.signing_key,
        signing_kid=signing.signing_kid,
        recipient_key=import_public(public_jwk(zjj_key, kid=zjj_kid), use="enc"),
        recipient_kid=zjj_kid,
    )


@pytest.mark.parametrize(
    ("publisher", "code"),
    [
        (PLATFORM_PUBLISHER, "unknown_key"),  # in the exchange's name: not a gateway key
        ("psb", "not_event_source"),  # in its own name: valid signature, but recalls are reserved
    ],
)
def test_a_recall_sealed_by_a_department_is_refused_by_the_recipient(
    client: TestClient, embedded: Embedded, publisher: str, code: str
) -> None:
    _, _, person = fixed_correction(client, embedded)
    _, headers = embedded.transport.events["zjj"][-1]  # a genuine recall's headers, replayed
    # The attacker's own headers, consistent with its copy: only the signature can give it away.
    own = {
        "sender": publisher,
        "message-id": "recall-forged-0001",
        "routing": json.dumps({"element": "person.name", "correction_id": "forged"}),
    }
    forged_headers = [(k, own[k].encode() if k in own else v) for k, v in headers]
    forged = _forged_copy(embedded, publisher=publisher, signer="psb", person=person)
    with pytest.raises(JoseFailure) as refused:
        recipient(client, embedded, "zjj").open(forged.encode(), forged_headers)
    assert refused.value.code == code


def test_a_department_cannot_publish_a_recall_through_the_exchange(
    client: TestClient, embedded: Embedded
) -> None:
    person = embedded.subjects.demo_person
    headers = as_department(client, embedded, "psb")
    body = {"type": RECALL_TYPE, "subject": {"type": "person", "id": person}, "routing": {}}
    refused = client.post("/v1/events/recipients", json=body, headers=headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["reason"] == "unknown_event_type"
    assert person not in refused.text
    with embedded.state.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Event)).scalar_one()
        denied = (
            conn.execute(
                select(col(AuditEntry.reason)).where(
                    AuditEntry.decision == "deny", AuditEntry.actor_department == "psb"
                )
            )
            .scalars()
            .all()
        )
    assert stored == 0  # nothing published
    assert "unknown_event_type" in denied
