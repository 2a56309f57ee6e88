"""The read-only catalogue snapshot the gateway decides from, loaded from a seeded registry."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from registry.catalogue import ElementView, load_catalogue
from registry.db import make_engine
from shuyuan import sample_catalogue
from shuyuan.app import migrate


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated, seeded SQLite registry."""
    engine = make_engine(f"sqlite:///{tmp_path / 'catalogue.db'}")
    migrate(engine)
    sample_catalogue.seed(engine)
    yield engine
    engine.dispose()


def test_departments_and_their_status(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE department SET status = 'disabled' WHERE code = 'amr'"))
    departments = load_catalogue(engine).departments
    assert departments == {
        code: ("disabled" if code == "amr" else "active") for code, *_ in sample_catalogue.DEPARTMENTS
    }


def test_every_element_with_its_source(engine: Engine) -> None:
    elements = load_catalogue(engine).elements
    assert elements == {
        e.code: ElementView(
            e.code,
            e.source,
            e.subject_type,
            e.sharing_type,
            "standard",
            sample_catalogue.VALUE_SCHEMAS.get(e.code),
        )
        for e in sample_catalogue.ELEMENTS
    }


def test_each_item_needs_the_union_of_its_materials_elements(engine: Engine) -> None:
    needed = load_catalogue(engine).item_elements
    assert needed == {
        item["code"]: frozenset(code for m in item["materials"] for code in m["elements"])
        for item in sample_catalogue.SERVICE_ITEMS
    }


def test_an_item_without_materials_is_known_and_needs_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        dept = conn.execute(text("SELECT id FROM department WHERE code = 'xzsp'")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO service_item (code, name, handling_department_id, created_at) "
                "VALUES ('EMPTY-001', '空事项', :d, '2026-01-01 00:00:00')"
            ),
            {"d": dept},
        )
    assert load_catalogue(engine).item_elements["EMPTY-001"] == frozenset()


def test_agreements_are_keyed_by_consumer_element_and_item(engine: Engine) -> None:
    agreements = load_catalogue(engine).agreements
    assert set(agreements) == {(c, e, i) for c, e, i, _basis in sample_catalogue.AGREEMENTS}
    for views in agreements.values():
        assert len(views) == 1
        assert views[0].status == "approved"
        assert views[0].valid_from < views[0].valid_until
