"""A department cannot hide its reads from citizens for long on its own word.

A restriction up to `approval_after_days` (30) hides the access at once. A longer one hides it for
those 30 days only, until a data steward or the platform security officer approves it; pending ones
are listed for review. A department cannot list or approve; every approval is on the audit chain.
"""

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import authorize, steward_headers
from tests.exchange.conftest import as_department, query_body
from tests.exchange.test_transparency_oidc import IdP

ACCESSES = "/v1/transparency/accesses"
RESTRICTIONS = "/v1/transparency/restrictions"
Gateway = tuple[Embedded, TestClient, IdP, Path]


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The embedded exchange trusting a local OpenID Connect provider."""
    idp = IdP(tmp_path)
    for name, value in idp.env().items():
        monkeypatch.setenv(name, value)
    embedded = build_embedded(tmp_path / "exchange")
    with TestClient(embedded.app) as client:
        authorize(client, scopes=["query", "registry:read"])  # zjj's system: a department, no reviewer
        yield embedded, client, idp, tmp_path / "exchange" / "shuyuan.db"


def _ask(client: TestClient, person: str) -> str:
    body = query_body(person, ["person.name"], case_no="ZJJ-2026-000777")
    assert client.post("/v1/queries", json=body).status_code == 200
    return str(body["query_id"])


def _restrict(client: TestClient, query_id: str, days: int) -> dict[str, Any]:
    embargo = datetime.now(UTC) + timedelta(days=days)
    body = {"query_id": query_id, "embargo_until": embargo.isoformat(), "reason": "GA-2026-17"}
    response = client.post(RESTRICTIONS, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _shown(client: TestClient, idp: IdP, person: str) -> list[str]:
    headers = {"Authorization": f"Bearer {idp.token(id_number=person)}"}
    return [a["query_id"] for a in client.get(ACCESSES, headers=headers).json()["accesses"]]


def _audit(db: Path, action: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT actor_department, actor_system, request_id, source, reason FROM audit_entry"
            " WHERE action = ? ORDER BY seq",
            (action,),
        ).fetchall()


def _age(db: Path, restriction_id: int, days: int) -> None:
    """Pretend the restriction was made `days` ago (the clock cannot be moved a month in a test)."""
    with sqlite3.connect(db) as conn:
        (created,) = conn.execute(
            "SELECT created_at FROM transparency_restriction WHERE id = ?", (restriction_id,)
        ).fetchone()
        moment = datetime.fromisoformat(created) - timedelta(days=days)
        conn.execute(
            "UPDATE transparency_restriction SET created_at = ? WHERE id = ?",
            (moment.isoformat(sep=" "), restriction_id),
        )


def test_a_long_restriction_hides_only_the_default_until_a_steward_approves_it(gateway: Gateway) -> None:
    embedded, client, idp, db = gateway
    me = embedded.subjects.demo_person
    long_one, short_one = _ask(client, me), _ask(client, me)
    pending = _restrict(client, long_one, days=365)
    assert pending["approval"] == "pending"
    hides = datetime.fromisoformat(pending["hides_until"]) - datetime.fromisoformat(pending["created_at"])
    assert hides == timedelta(days=30)
    short = _restrict(client, short_one, days=10)
    assert short["approval"] == "not_needed"
    assert _shown(client, idp, me) == []  # both hidden for now

    # A month later, the unapproved year-long embargo no longer hides anything.
    _age(db, pending["id"], days=31)
    assert _shown(client, idp, me) == [long_one]

    # The department can neither see the review list nor approve its own restriction.
    for response in (
        client.get(RESTRICTIONS),
        client.post(f"{RESTRICTIONS}/{pending['id']}/approve"),
        client.get(RESTRICTIONS, headers=as_department(client, embedded, "xzsp")),
    ):
        assert response.status_code == 403 and response.json()["reason"] == "insufficient_scope"
    assert _audit(db, "transparency.approved") == []

    steward = steward_headers(client)
    listed = client.get(RESTRICTIONS, headers=steward)
    assert listed.status_code == 200, listed.text
    [waiting] = listed.json()["restrictions"]
    assert (waiting["id"], waiting["query_id"], waiting["department"]) == (pending["id"], long_one, "zjj")
    assert waiting["reason"] == "GA-2026-17"  # the reviewer sees why
    everything = client.get(RESTRICTIONS, params={"status": "all"}, headers=steward).json()["restrictions"]
    assert {r["id"] for r in everything} == {pending["id"], short["id"]}

    approved = client.post(f"{RESTRICTIONS}/{pending['id']}/approve", headers=steward)
    assert approved.status_code == 200, approved.text
    assert approved.json()["approval"] == "approved" and approved.json()["approved_by"] == "steward-test"
    assert _shown(client, idp, me) == []  # hidden again, until the approved embargo
    [record] = _audit(db, "transparency.approved")
    assert record == ("xzsp", "steward-test", long_one, "zjj", "restricted")
    assert client.get(RESTRICTIONS, headers=steward).json()["restrictions"] == []

    for path, status, reason in (
        (f"{RESTRICTIONS}/{pending['id']}/approve", 409, "conflict"),  # already approved
        (f"{RESTRICTIONS}/{short['id']}/approve", 409, "conflict"),  # within the default
        (f"{RESTRICTIONS}/999999/approve", 404, "not_found"),
    ):
        response = client.post(path, headers=steward)
        assert (response.status_code, response.json()["reason"]) == (status, reason), response.text
    assert len(_audit(db, "transparency.approved")) == 1
