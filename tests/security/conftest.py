"""One embedded exchange per hostile-input module, and the checks every hostile request must pass."""

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import authorize, now_iso

PROBLEM = "application/problem+json"


@dataclass
class Hostile:
    """The exchange under attack, the plaintext it must never release, and its audit table."""

    embedded: Embedded
    client: TestClient
    db: Path
    secrets: list[str]

    def body(self, **overrides: Any) -> dict[str, Any]:
        """A valid query body of 住建局 for the demo person, with overrides."""
        body: dict[str, Any] = {
            "query_id": "q-hostile-base-0001",
            "subject": {"type": "person", "id": self.embedded.subjects.demo_person},
            "elements": ["person.name", "person.registered_address"],
            "purpose": {"service_item": "330100-GZF-001", "case_no": "ZJJ-2026-000123"},
            "on_behalf_of": "wang.fang",
            "requested_at": now_iso(),
        }
        return body | overrides

    def denials(self) -> list[tuple[str, str]]:
        """(action, reason) of every denial in the audit table, oldest first."""
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute("SELECT action, reason FROM audit_entry WHERE decision = 'deny' ORDER BY seq")
            return [tuple(r) for r in rows]

    def refused(self, response: Any, status: int, reason: str, before: int) -> None:
        """A clear problem+json refusal with its reason, no data released, one audit row for it."""
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["reason"] == reason
        for secret in self.secrets:
            assert secret not in response.text
        after = self.denials()
        assert len(after) == before + 1, after[before:]
        assert after[-1][1] == reason


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """The embedded exchange; its default client sends a valid token of zjj's test system."""
    data = tmp_path_factory.mktemp("hostile")
    embedded = build_embedded(data)
    person = embedded.subjects.demo_person
    with sqlite3.connect(data / "departments" / "psb.sqlite") as conn:
        name, address = conn.execute(
            "SELECT name, registered_address FROM hukou_person WHERE resident_id = ?", (person,)
        ).fetchone()
    with TestClient(embedded.app) as client:
        authorize(client)
        yield Hostile(embedded, client, data / "shuyuan.db", [name, address, person])
