"""The registry's rules held by PostgreSQL itself."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from exchange.db import MIGRATIONS as EXCHANGE_MIGRATIONS
from registry import db
from shuyuan import sample_catalogue
from shuyuan.app import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded_engine(pg_database: str):
    engine = db.make_engine(pg_database)
    migrate(engine)
    sample_catalogue.seed(engine)
    yield engine
    engine.dispose()


def test_second_source_for_an_element_is_refused_by_postgres(seeded_engine) -> None:
    with seeded_engine.connect() as conn:
        hrss = conn.execute(text("SELECT id FROM department WHERE code = 'hrss'")).scalar_one()
        psb_owned = conn.execute(
            text("SELECT source_department_id FROM data_element WHERE code = 'person.name'")
        ).scalar_one()
    assert psb_owned != hrss
    insert = text(
        "INSERT INTO data_element (code, name_zh, name_en, definition, subject_type, value_type, sensitivity,"
        " grade, sharing_type, status, source_department_id, version, created_at, updated_at)"
        " VALUES ('person.name', '姓名', 'Name', '', 'person', 'string', 'internal', 'general',"
        " 'unconditional', 'recorded', :src, 1, now(), now())"
    )
    with pytest.raises(IntegrityError, match="ix_data_element_code"), seeded_engine.begin() as conn:
        conn.execute(insert, {"src": hrss})
    with pytest.raises(IntegrityError, match="source_department_id"), seeded_engine.begin() as conn:
        conn.execute(text("UPDATE data_element SET source_department_id = NULL WHERE code = 'person.name'"))
    with pytest.raises(IntegrityError, match="foreign key"), seeded_engine.begin() as conn:
        conn.execute(text("UPDATE data_element SET source_department_id = -1 WHERE code = 'person.name'"))
    with seeded_engine.connect() as conn:
        sources = conn.execute(
            text("SELECT count(*), min(source_department_id) FROM data_element WHERE code = 'person.name'")
        ).one()
    assert tuple(sources) == (1, psb_owned)


def test_migrations_go_down_and_up_again_on_postgres(pg_database: str) -> None:
    engine = db.make_engine(pg_database)
    migrate(engine)
    db.downgrade(engine, "base", script_location=EXCHANGE_MIGRATIONS)
    db.downgrade(engine, "base")
    with engine.connect() as conn:
        tables = (
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        )
    assert set(tables) <= {"registry_alembic_version", "exchange_alembic_version"}
    migrate(engine)
    migrate(engine)  # idempotent
    with engine.connect() as conn:
        tables = set(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        )
    assert {
        "department",
        "data_element",
        "service_item",
        "material",
        "material_element",
        "sharing_agreement",
        "query_record",
        "audit_entry",
    } <= tables
    engine.dispose()
