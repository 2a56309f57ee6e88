"""SCENARIOS.md B over the real broker and PostgreSQL: the newborn's bundle (新生儿出生一件事).

One prefill per department, fanned out to the real connectors of psb, mzj, wjw, ybj and hrss. Each
department gets exactly its own step's materials (psb, the handler, also the intake ones), every value
verified and equal to the source's register; another step's element asked through POST /v1/queries is
`not_necessary_for_purpose`; a department outside the bundle is `not_participant`; every fanned-out
query is an audited release, and nothing else was asked of any source.
"""

import json
import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from connectors.client import ConsumerClient, GatewayError
from connectors.prefill import PrefillAnswer
from exchange.audit.models import AuditEntry
from exchange.audit.settings import AuditSettings
from shuyuan.sample_catalogue import NEWBORN_ITEM, SERVICE_ITEMS
from shuyuan.sample_systems import SYSTEMS
from tests.integration.conftest import World

pytestmark = pytest.mark.integration
ITEM = next(i for i in SERVICE_ITEMS if i["code"] == NEWBORN_ITEM)
SOURCES = ("psb", "mzj", "wjw", "ybj", "hrss")


def _materials_of(dept: str) -> set[str]:
    """The materials a department reads for the bundle: its steps', and for the handler the intake."""
    mine = {m for step in ITEM["steps"] if step["department"] == dept for m in step["materials"]}
    if dept == ITEM["handling_department"]:
        in_steps = {m for step in ITEM["steps"] for m in step["materials"]}
        mine |= {m["name"] for m in ITEM["materials"]} - in_steps
    return mine


def _sdk(world: World, client: Any, dept: str) -> ConsumerClient:
    system = next(c for c, code, _, _ in SYSTEMS if code == dept)
    return world.consumer(client, code=dept, system=system)


def _one(world: World, dept: str, sql: str, *args: str) -> Any:
    with sqlite3.connect(world.data_dir / f"{dept}.sqlite") as db:
        row = db.execute(sql, args).fetchone()
    return None if row is None else row[0]


def _prefill(
    world: World, client: Any, dept: str, family: dict[str, tuple[str, str]], n: int
) -> PrefillAnswer:
    return _sdk(world, client, dept).prefill(
        service_item=NEWBORN_ITEM,
        subjects=family,
        case_no=f"XSE-2026-{n:06d}",
        on_behalf_of=f"{dept}.clerk",
        prefill_id=f"xse-{dept}-{n:04d}",
    )


def test_the_newborn_bundle_gives_each_department_its_own_step_only(world: World) -> None:
    s = world.subjects
    family = {
        "mother": ("person", s.newborn_mother),
        "father": ("person", s.newborn_father),
        "child": ("person", s.newborn),
    }
    with TestClient(world.gateway(audit=AuditSettings(path="direct"))) as client:
        world.start_sources(SOURCES)
        steps = ("psb", "wjw", "ybj", "hrss")  # mzj is a source here, with no step of its own
        answers = {dept: _prefill(world, client, dept, family, n) for n, dept in enumerate(steps)}

        # Each department: exactly its materials, every one supplied by verified values.
        for dept, answer in answers.items():
            got = {m.name for m in answer.materials}
            assert got == _materials_of(dept), dept
            assert answer.status == "complete" and answer.to_bring == [], (dept, answer.to_bring)
        psb = {m.name: m.values() for m in answers["psb"].materials}
        # The registers' own values, through the connectors and back, opened by psb's SDK only.
        assert psb["母亲身份证"]["person.name"] == _one(
            world, "psb", "SELECT name FROM hukou_person WHERE resident_id = ?", s.newborn_mother
        )
        assert psb["父亲身份证"]["person.name"] == _one(
            world, "psb", "SELECT name FROM hukou_person WHERE resident_id = ?", s.newborn_father
        )
        assert psb["结婚证"] == {
            "person.marital_status": "已婚",
            "person.spouse_name": _one(
                world, "mzj", "SELECT spouse_name FROM marital_record WHERE resident_id = ?", s.newborn_mother
            ),
        }
        birth = psb["出生医学证明"]["person.birth_record"]
        stored = _one(
            world, "wjw", "SELECT certificate_no FROM birth_certificate WHERE resident_id = ?", s.newborn
        )
        assert birth["certificate_no"] == stored
        assert {birth["mother_name"], birth["father_name"]} == {
            psb["母亲身份证"]["person.name"],
            psb["父亲身份证"]["person.name"],
        }
        hrss = {m.name: m.values() for m in answers["hrss"].materials}
        assert hrss["医保参保证明"]["person.medical_insurance_status"] == _one(
            world, "ybj", "SELECT insurance_status FROM medical_insured WHERE resident_id = ?", s.newborn
        )

        # Another step's element through an ordinary query: not for this department's step.
        ybj = _sdk(world, client, "ybj")
        refused = ybj.query(
            subject_type="person",
            subject_id=s.newborn_mother,
            elements=["person.marital_status"],
            service_item=NEWBORN_ITEM,
            case_no="XSE-2026-000099",
            on_behalf_of="ybj.clerk",
        )
        assert [(r.status, r.reason) for r in refused.results] == [("denied", "not_necessary_for_purpose")]
        # A department outside the bundle gets nothing.
        with pytest.raises(GatewayError) as outsider:
            world.consumer(client).prefill(
                service_item=NEWBORN_ITEM,
                subjects=family,
                case_no="ZJJ-XSE-0001",
                on_behalf_of="wang.fang",
                prefill_id="xse-zjj-0090",
            )
        assert (outsider.value.status_code, outsider.value.problem["reason"]) == (403, "not_participant")

    engine = create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(AuditEntry.action, AuditEntry.request_id, AuditEntry.elements)
                .where(AuditEntry.request_id.startswith("xse-"))  # type: ignore[union-attr]
                .order_by(AuditEntry.seq)  # type: ignore[arg-type]
            ).all()
    finally:
        engine.dispose()
    released = {r.request_id for r in rows if r.action == "query.released"}
    expected = {q for answer in answers.values() for q in answer.query_ids}
    assert released == expected  # one audited release per fanned-out query, nothing else released
    asked = {
        code
        for r in rows
        if r.action == "element.decided" and r.request_id.startswith("xse-wjw-")
        for code in json.loads(r.elements)
    }
    assert asked == {"person.name", "person.birth_date"}  # wjw's step: the mother's identity only
    refused_ids = {r.request_id for r in rows if r.action == "query.refused"}
    assert any(rid.startswith("xse-zjj-") for rid in refused_ids)
