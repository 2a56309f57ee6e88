"""Corrections on PostgreSQL: the migration, a filing checked against the audit chain, the flag."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from exchange.settings import GatewaySettings
from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import authorize
from tests.exchange.conftest import as_department
from tests.exchange.test_corrections_api import CORRECTIONS, audit_rows, filed, move
from tests.exchange.test_corrections_disputes import ask_as_xzsp, flags

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_gateway(pg_database: str, tmp_path: Path) -> Iterator[tuple[Embedded, TestClient]]:
    """The embedded exchange on a fresh PostgreSQL database."""
    settings = GatewaySettings(database_url=pg_database, transport="memory", environment="test")
    embedded = build_embedded(tmp_path / "exchange", settings=settings)
    with TestClient(embedded.app) as client:
        authorize(client)
        yield embedded, client


def test_filing_and_the_flag_on_postgresql(pg_gateway: tuple[Embedded, TestClient]) -> None:
    embedded, client = pg_gateway
    indexes = {i["name"] for i in inspect(embedded.state.engine).get_indexes("correction")}
    assert "ix_correction_subject_state" in indexes
    cid, person = filed(client, embedded)
    assert [r.request_id for r in audit_rows(embedded, "correction.filed")] == [f"correction:{cid}"]
    assert flags(ask_as_xzsp(client, embedded, person))["person.name"] == (True, cid)
    psb = as_department(client, embedded, "psb")
    body = client.get(f"{CORRECTIONS}/{cid}", headers=psb).json()
    assert body["proposed_value_jwe"] is None and body["take_up_due"] < body["close_due"]
    assert move(client, cid, psb, "rejected", reason="登记信息无误").json()["state"] == "rejected"
    assert flags(ask_as_xzsp(client, embedded, person))["person.name"] == (False, None)
