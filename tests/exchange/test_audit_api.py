"""The audit API on the embedded exchange: search, proofs, export stream and bundle, scope protection."""

import csv
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from exchange.audit import checkpoint, keys
from exchange.audit.cli import audit_app
from exchange.audit.settings import AuditSettings
from exchange.audit.verify import verify_bundle
from protocol.clock import utcnow
from registry.events import RegistryEvent
from shuyuan.embedded import Embedded
from tests.auditkit import pins
from tests.authkit import bearer, register_test_system, steward_headers
from tests.exchange.conftest import query_body


@pytest.fixture
def gateway(gateway_with: Any, tmp_path: Path) -> tuple[Embedded, TestClient]:
    """The embedded exchange signing a checkpoint after every record, with three queries done."""
    audit = AuditSettings(key_dir=tmp_path / "audit-keys", checkpoint_every=1, checkpoint_interval_s=3600)
    embedded, client = gateway_with(audit=audit)
    person = embedded.subjects.demo_person
    for elements in (["person.name"], ["person.name", "unknown.element"], ["person.household_members"]):
        response = client.post("/v1/queries", json=query_body(person, elements))
        assert response.status_code == 200, response.text
    return embedded, client


def test_search_filters_by_subject_and_never_shows_an_identifier(
    gateway: tuple[Embedded, TestClient],
) -> None:
    embedded, client = gateway
    person = embedded.subjects.demo_person
    response = client.get("/v1/audit/records", params={"subject_type": "person", "subject_id": person})
    assert response.status_code == 200, response.text
    records = response.json()["records"]
    assert {r["action"] for r in records} >= {"query.received", "element.decided", "query.released"}
    assert len({r["subject_index"] for r in records}) == 1
    assert person not in response.text
    denied = client.get("/v1/audit/records", params={"decision": "deny", "element": "unknown.element"})
    assert [r["reason"] for r in denied.json()["records"]] == ["unknown_element"]
    page = client.get("/v1/audit/records", params={"limit": 2})
    assert page.json()["next_after_seq"] == 2
    nobody = client.get(
        "/v1/audit/records", params={"subject_type": "person", "subject_id": "110105198804190478"}
    )
    assert nobody.status_code == 400 and nobody.json()["reason"] == "invalid_subject_id"
    half = client.get("/v1/audit/records", params={"subject_type": "person"})
    assert half.status_code == 400 and half.json()["reason"] == "invalid_request"
    odd = client.get("/v1/audit/records", params={"colour": "red"})
    assert odd.status_code == 422 and odd.json()["reason"] == "invalid_request"
    backwards = client.get(
        "/v1/audit/records", params={"time_from": "2026-01-02T00:00:00Z", "time_to": "2026-01-01T00:00:00Z"}
    )
    assert backwards.status_code == 400
    naive = client.get("/v1/audit/records", params={"time_from": "2026-01-01T00:00:00"})
    assert naive.status_code == 422  # a time without an offset is ambiguous
    later = client.get("/v1/audit/records", params={"time_from": "2099-01-01T00:00:00+08:00"})
    assert later.status_code == 200 and later.json()["records"] == []


def test_a_record_proof_verifies_against_the_signed_checkpoint(gateway: tuple[Embedded, TestClient]) -> None:
    _, client = gateway
    proof = client.get("/v1/audit/records/3/proof")
    assert proof.status_code == 200, proof.text
    body = proof.json()
    cp = body["checkpoint"]
    assert checkpoint.proof_ok(
        body["record"]["hash"], body["leaf_index"], body["tree_size"], body["path"], cp["merkle_root"]
    )
    (published,) = client.get("/v1/audit/public-keys").json()
    assert published["kid"] == cp["kid"]
    assert checkpoint.signature_ok(cp, keys.load_public_pem(published["public_key_pem"]))
    missing = client.get("/v1/audit/records/999999/proof")
    assert missing.status_code == 404 and missing.json()["reason"] == "not_found"


def test_export_streams_json_lines_and_csv(gateway: tuple[Embedded, TestClient]) -> None:
    _, client = gateway
    lines = client.get("/v1/audit/export", params={"department": "zjj"})
    assert lines.status_code == 200 and lines.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in lines.text.splitlines()]
    assert records and all(r["actor_department"] == "zjj" for r in records)
    table = client.get("/v1/audit/export", params={"department": "zjj", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [int(r["seq"]) for r in rows] == [r["seq"] for r in records]


def test_a_downloaded_bundle_verifies_offline_with_the_cli(
    gateway: tuple[Embedded, TestClient], tmp_path: Path
) -> None:
    _, client = gateway
    response = client.get("/v1/audit/bundle", params={"csv": "true"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    path = tmp_path / "download.zip"
    path.write_bytes(response.content)
    assert verify_bundle(path, pinned=pins(tmp_path / "audit-keys")).ok
    with zipfile.ZipFile(path) as z:
        assert {"manifest.json", "records.jsonl", "records.csv", "checkpoints.jsonl"} <= set(z.namelist())
    pem = tmp_path / "audit.pem"
    pem.write_text(keys.public_pem(pins(tmp_path / "audit-keys").keys[0]))
    result = CliRunner().invoke(audit_app, ["verify", str(path), "--audit-key", str(pem)])
    assert result.exit_code == 0 and "OK" in result.output, result.output
    filtered = client.get("/v1/audit/bundle", params={"element": "person.name"})
    path.write_bytes(filtered.content)
    result = CliRunner().invoke(audit_app, ["verify", str(path), "--audit-key", str(pem)])
    assert result.exit_code == 0 and "inclusion proofs" in result.output, result.output


def test_the_audit_api_needs_the_audit_scope(gateway: tuple[Embedded, TestClient]) -> None:
    embedded, client = gateway
    key = register_test_system(
        embedded.state.engine, client_id="zjj-query-only", department="zjj", scopes=["query"]
    )
    headers = bearer(client, key, "zjj-query-only")
    for path in ("/v1/audit/records", "/v1/audit/export", "/v1/audit/bundle", "/v1/audit/records/1/proof"):
        assert client.get(path, headers=headers).status_code == 403, path
        assert client.get(path, headers={"Authorization": ""}).status_code == 401, path


def test_a_registry_change_is_recorded_on_the_chain(gateway: tuple[Embedded, TestClient]) -> None:
    embedded, client = gateway
    steward = steward_headers(client)  # departments are a steward's (issue 9)
    before = len(client.get("/v1/audit/records", params={"limit": 1000}).json()["records"])
    created = client.post("/v1/departments", json={"code": "jyj", "name": "教育局"}, headers=steward)
    assert created.status_code == 201, created.text
    # Services that name their change (elements, agreements, ...) give it a type; other writes are
    # recorded as `registry.changed` with their path.
    embedded.state.changes.changed(
        [RegistryEvent(type="agreement.approved", entity="agreement", code="42", at=utcnow())]
    )
    for _ in range(100):
        records = client.get("/v1/audit/records", params={"limit": 1000}).json()["records"][before:]
        if len(records) >= 2:
            break
        time.sleep(0.05)
    assert [(r["action"], r["request_id"]) for r in records] == [
        ("registry.changed", "registry:/v1/departments"),  # the write's path says what changed
        ("registry.agreement.approved", "agreement:42"),
    ]
