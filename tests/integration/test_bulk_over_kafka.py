"""Bulk queries over the real broker: 100 applicants' insurance status from the real hrss connector,
every answer opened and verified by the SDK, one audited release per subject."""

import sqlite3

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from connectors.bulk import query_bulk
from exchange.audit.models import AuditEntry
from exchange.audit.settings import AuditSettings
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.integration.conftest import World

pytestmark = pytest.mark.integration


def test_a_hundred_subjects_are_answered_by_the_real_connector_each_audited(world: World) -> None:
    people = [*world.subjects.all_persons[:99], world.subjects.unknown_person]
    with TestClient(world.gateway(audit=AuditSettings(path="direct"))) as client:
        world.start_connector("hrss")
        result = query_bulk(
            world.consumer(client),
            subject_type="person",
            subject_ids=people,
            elements=["person.si_status"],
            service_item=HOUSING_ITEM,
            case_no="ZJJ-BT-2026-0100",
            on_behalf_of="li.ming",
            bulk_id="bulk-kafka-000100",
        )
    assert result.summary["answered"] == 100 and result.summary["refused"] == 0
    with sqlite3.connect(world.data_dir / "hrss.sqlite") as db:
        status = dict(db.execute("SELECT resident_id, insurance_status FROM si_insured").fetchall())
    for item in result.items:
        assert item.answer is not None
        [element] = item.answer.results
        if item.subject_id in status:
            assert (element.status, element.value) == ("ok", status[item.subject_id])
        else:  # not insured, or unknown to every source
            assert element.status == "not_found"
    engine = create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            released = conn.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.action == "query.released",  # type: ignore[arg-type]
                    AuditEntry.request_id.startswith("bulk-kafka-000100."),  # type: ignore[union-attr]
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert released == 100
