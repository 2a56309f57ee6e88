"""一数一源 enforced by the database itself (SQLite here), whatever code writes to it."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from registry.catalogue import load_catalogue
from registry.db import make_engine, unit_of_work
from registry.departments.models import Department
from shuyuan import sample_catalogue
from shuyuan.app import migrate

INSERT_ELEMENT = text(
    "INSERT INTO data_element (code, name_zh, name_en, definition, subject_type, value_type, sensitivity, "
    "grade, sharing_type, status, source_department_id, version, created_at, updated_at) VALUES "
    "(:code, '姓名', 'Name', '', :subject_type, 'string', 'internal', 'general', :sharing_type, 'recorded', "
    ":source, 1, :now, :now)"
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite registry with the sample catalogue."""
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    sample_catalogue.seed(engine)
    yield engine
    engine.dispose()


def _dept_id(engine: Engine, code: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT id FROM department WHERE code = :c"), {"c": code}).scalar_one())


def _insert(engine: Engine, **values: Any) -> None:
    params = {"subject_type": "person", "sharing_type": "unconditional", "now": datetime.now(UTC)} | values
    with engine.begin() as conn:
        conn.execute(INSERT_ELEMENT, params)


def _sources(engine: Engine, code: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT d.code FROM data_element e JOIN department d ON d.id = e.source_department_id "
                    "WHERE e.code = :c"
                ),
                {"c": code},
            ).scalars()
        )


def test_foreign_keys_are_on_for_every_connection(engine: Engine) -> None:
    for _ in range(3):
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_a_second_row_for_a_code_with_another_source_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="UNIQUE"):
        _insert(engine, code="person.name", source=_dept_id(engine, "hrss"))
    assert _sources(engine, "person.name") == ["psb"]


def test_an_element_without_a_source_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="NOT NULL"):
        _insert(engine, code="person.orphan", source=None)
    with pytest.raises(IntegrityError, match="NOT NULL"), engine.begin() as conn:
        conn.execute(text("UPDATE data_element SET source_department_id = NULL WHERE code = 'person.name'"))
    assert _sources(engine, "person.name") == ["psb"]


def test_a_source_that_is_not_a_department_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        _insert(engine, code="person.ghost", source=9999)
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), engine.begin() as conn:
        conn.execute(text("UPDATE data_element SET source_department_id = 9999 WHERE code = 'person.name'"))
    assert _sources(engine, "person.name") == ["psb"]


def test_a_department_that_is_a_source_cannot_be_deleted(engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), engine.begin() as conn:
        conn.execute(text("DELETE FROM department WHERE code = 'psb'"))
    assert len(load_catalogue(engine).departments) == len(sample_catalogue.DEPARTMENTS)


@pytest.mark.parametrize(
    "column,value", [("sharing_type", "sometimes"), ("subject_type", "household")], ids=["sharing", "subject"]
)
def test_check_constraints(engine: Engine, column: str, value: str) -> None:
    with pytest.raises(IntegrityError, match="CHECK"):
        _insert(engine, code="person.checked", source=_dept_id(engine, "psb"), **{column: value})


def test_a_duplicate_department_code_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="UNIQUE"), unit_of_work(engine) as session:
        session.add(Department(code="psb", name="公安局（重复）"))


def test_unit_of_work_rolls_back_everything_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        session.add(Department(code="tmp_dept", name="临时"))
        session.flush()
        raise RuntimeError("boom")
    assert "tmp_dept" not in load_catalogue(engine).departments


def test_one_material_cannot_name_an_element_twice(engine: Engine) -> None:
    with engine.connect() as conn:
        material, element = conn.execute(text("SELECT material_id, element_id FROM material_element")).first()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text("INSERT INTO material_element (material_id, element_id) VALUES (:m, :e)"),
            {"m": material, "e": element},
        )
