"""Attack: the gateway operator or its database administrator reads the value a filer proposes in a
correction (DESIGN.md §12). It is personal data, so the filer's SDK encrypts it to the source; a filing
that would leave it readable by anyone else is refused before anything is stored."""

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from connectors.corrections import file_correction
from exchange.audit.models import AuditEntry
from exchange.corrections.models import Correction
from protocol.jose import encrypt, import_public, public_jwk
from shuyuan.embedded import Embedded
from tests.exchange.conftest import as_department
from tests.exchange.test_corrections_api import CORRECTIONS, filing, query, sdk


def _stored(embedded: Embedded) -> int:
    with embedded.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Correction)).scalar_one())


def test_the_database_holds_no_proposed_value_in_the_clear(client: TestClient, embedded: Embedded) -> None:
    person = embedded.subjects.demo_person
    qid = query(client, embedded, "zjj", person, ["person.name"])
    file_correction(
        sdk(client, embedded, "zjj"),
        element="person.name",
        subject_type="person",
        subject_id=person,
        query_id=qid,
        problem="姓名有误",
        source="psb",
        proposed_value="欧阳明月",
    )
    with embedded.state.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM correction")).all()
        audit = conn.execute(text("SELECT * FROM audit_entry")).all()
    dump = repr(rows) + repr(audit)
    assert "欧阳明月" not in dump and "欧阳明月".encode().hex() not in dump


def test_a_plaintext_proposed_value_is_refused(client: TestClient, embedded: Embedded) -> None:
    person = embedded.subjects.demo_person
    qid = query(client, embedded, "zjj", person, ["person.name"])
    body = filing(person, qid) | {"proposed_value": "欧阳明月"}
    refused = client.post(CORRECTIONS, json=body, headers=as_department(client, embedded, "zjj"))
    assert refused.status_code == 422 and refused.json()["reason"] == "invalid_request"
    assert _stored(embedded) == 0


def test_a_proposed_value_not_encrypted_to_the_source_is_refused(
    client: TestClient, embedded: Embedded
) -> None:
    # Encrypted to the filer's own key (or any key but the source's): the source could never read it,
    # and whoever holds that key could. Refused at filing, nothing stored, the refusal audited.
    person = embedded.subjects.demo_person
    qid = query(client, embedded, "zjj", person, ["person.name"])
    kid, key = next(iter(embedded.keys["zjj"].encryption.items()))
    wrong = encrypt(
        "欧阳明月".encode(), recipient=import_public(public_jwk(key, kid=kid), use="enc"), kid=kid
    )
    body = filing(person, qid) | {"proposed_value_jwe": wrong}
    refused = client.post(CORRECTIONS, json=body, headers=as_department(client, embedded, "zjj"))
    assert refused.status_code == 400, refused.text
    assert refused.json()["reason"] == "invalid_request" and "psb" in refused.json()["detail"]
    assert _stored(embedded) == 0
    with embedded.state.engine.connect() as conn:
        denied = conn.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.decision == "deny",  # type: ignore[arg-type]
                AuditEntry.actor_department == "zjj",  # type: ignore[arg-type]
                AuditEntry.reason == "invalid_request",  # type: ignore[arg-type]
            )
        ).scalar_one()
    assert denied >= 1
