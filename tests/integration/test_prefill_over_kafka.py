"""Prefill of a bundle (一件事) over the real broker and PostgreSQL with the real psb and hrss connectors:
each department's SDK gets only its own step's materials, every value verified and equal to the
source's register; the other step's elements are refused through POST /v1/queries; every fanned-out
query is an audited release."""

import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from exchange.audit.models import AuditEntry
from exchange.audit.settings import AuditSettings
from shuyuan.app import app_state
from tests.authkit import bearer, register_test_system
from tests.bundlekit import BUNDLE, HRSS_STEP_ELEMENTS, bundle_item
from tests.integration.conftest import World

pytestmark = pytest.mark.integration


def _bundle(world: World) -> dict[str, Any]:
    """The test bundle with this world's department codes."""
    item = bundle_item()
    return item | {
        "handling_department": world.dept("zjj"),
        "participants": [world.dept("hrss")],
        "steps": [s | {"department": world.dept(s["department"])} for s in item["steps"]],
    }


def _row(world: World, dept: str, table: str, resident_id: str) -> sqlite3.Row:
    with sqlite3.connect(world.data_dir / f"{dept}.sqlite") as db:
        db.row_factory = sqlite3.Row
        return db.execute(f"SELECT * FROM {table} WHERE resident_id = ?", (resident_id,)).fetchone()


def test_each_step_department_prefills_only_its_own_materials_over_kafka(world: World) -> None:
    applicant, spouse = world.subjects.demo_person, world.subjects.all_persons[1]
    with TestClient(world.gateway(audit=AuditSettings(path="direct"))) as client:
        world.start_connector("psb")
        world.start_connector("hrss")
        steward_id = f"steward-pf{world.suffix}".replace("_", "-")
        key = register_test_system(
            app_state(client.app).engine,
            client_id=steward_id,
            department=world.dept("xzsp"),
            scopes=["registry:read", "registry:write", "registry:steward"],
        )
        created = client.post(
            "/v1/service-items", json=_bundle(world), headers=bearer(client, key, steward_id)
        )
        assert created.status_code == 201, created.text

        zjj = world.consumer(client)
        housing = zjj.prefill(
            service_item=BUNDLE,
            subjects={"applicant": ("person", applicant), "spouse": ("person", spouse)},
            case_no="ZJJ-YJS-2026-0001",
            on_behalf_of="wang.fang",
            prefill_id="pf-kafka-zjj-0001",
        )
        hrss = world.consumer(client, "hrss", "hrss-si").prefill(
            service_item=BUNDLE,
            subjects={"applicant": ("person", applicant)},
            case_no="ZJJ-YJS-2026-0001",
            on_behalf_of="zhao.min",
            prefill_id="pf-kafka-hrss-0001",
        )
        refused = zjj.query(
            subject_type="person",
            subject_id=applicant,
            elements=HRSS_STEP_ELEMENTS,
            service_item=BUNDLE,
            case_no="ZJJ-YJS-2026-0001",
            on_behalf_of="wang.fang",
        )

    by_name = {m.name: m for m in housing.materials}
    assert list(by_name) == ["申请人身份证复印件", "配偶身份证复印件", "结婚证原件", "户口簿复印件"]
    assert housing.to_bring == ["结婚证原件"]
    person, partner = (
        _row(world, "psb", "hukou_person", applicant),
        _row(world, "psb", "hukou_person", spouse),
    )
    assert by_name["申请人身份证复印件"].values() == {
        "person.name": person["name"],
        "person.registered_address": person["registered_address"],
    }
    assert by_name["配偶身份证复印件"].values() == {"person.name": partner["name"]}

    [insurance] = hrss.materials
    insured = _row(world, "hrss", "si_insured", applicant)
    assert (insurance.name, insurance.status) == ("参保证明", "supplied")
    assert insurance.values() == {
        "person.employer_name": insured["employer_name"],
        "person.si_status": insured["insurance_status"],
    }
    assert [(r.status, r.reason) for r in refused.results] == [("denied", "not_necessary_for_purpose")] * 2

    engine = create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            released = conn.execute(
                select(AuditEntry.request_id).where(
                    AuditEntry.action == "query.released",  # type: ignore[arg-type]
                    AuditEntry.request_id.startswith("pf-kafka-"),  # type: ignore[union-attr]
                )
            ).scalars()
            assert sorted(released) == sorted(
                [
                    f"pf-kafka-zjj-0001.0.{world.dept('psb')}",
                    f"pf-kafka-zjj-0001.1.{world.dept('psb')}",
                    f"pf-kafka-hrss-0001.0.{world.dept('hrss')}",
                ]
            )
    finally:
        engine.dispose()
