"""A slow source over the real broker: the department database answers after the gateway's sync
timeout, within the source's own deadline in the registry; the query is answered 202, the SDK waits for
it and opens the real connector's answer, and the result is released once."""

import sqlite3
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from connectors.client import GatewayError
from connectors.runtime import Connector, Handled
from exchange.audit.models import AuditEntry
from exchange.audit.settings import AuditSettings
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.authkit import steward_headers
from tests.integration.conftest import World

pytestmark = pytest.mark.integration


class SlowConnector(Connector):
    """The real psb connector behind a department database that takes 1.5 s to answer."""

    def __init__(self, inner: Connector) -> None:
        self.__dict__.update(inner.__dict__)

    def answer(self, message: bytes) -> Handled:
        time.sleep(1.5)
        return super().answer(message)


def test_a_slow_source_is_answered_asynchronously_and_released_once(world: World) -> None:
    person = world.subjects.demo_person
    app = world.gateway(audit=AuditSettings(path="direct"), source_timeout_s=0.5)
    with TestClient(app) as client:
        steward = steward_headers(client, department=world.dept("xzsp"))
        patched = client.patch(
            f"/v1/departments/{world.dept('psb')}", json={"answer_deadline_s": 10}, headers=steward
        )
        assert patched.status_code == 200, patched.text
        world.start_connector("psb", wrap=SlowConnector)
        zjj = world.consumer(client)
        answer = zjj.query(
            subject_type="person",
            subject_id=person,
            elements=["person.name"],
            service_item=HOUSING_ITEM,
            case_no="ZJJ-2026-000888",
            on_behalf_of="wang.fang",
            query_id="q-slow-kafka-0001",
        )
        with sqlite3.connect(world.data_dir / "psb.sqlite") as db:
            [name] = db.execute("SELECT name FROM hukou_person WHERE resident_id = ?", (person,)).fetchone()
        [result] = answer.results
        assert (result.status, result.value) == ("ok", name)  # waited for the source: no source_timeout
        with pytest.raises(GatewayError) as again:
            zjj.fetch("q-slow-kafka-0001")
        assert (again.value.status_code, again.value.problem["reason"]) == (410, "result_fetched")
    engine = create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            steps = (
                conn.execute(
                    select(AuditEntry.action)
                    .where(AuditEntry.request_id == "q-slow-kafka-0001")  # type: ignore[arg-type]
                    .order_by(AuditEntry.seq)  # type: ignore[arg-type]
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert steps[0] == "query.deferred"  # answered 202, not source_timeout
    assert "query.released" in steps and steps.count("query.result_fetched") == 1
