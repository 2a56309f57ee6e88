"""Both migration trees on SQLite: up, down to base, up again; and the schema matches the models."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import console.users.models  # noqa: F401  (the console's table, migrated in the registry's tree)
import exchange.models  # noqa: F401  (registers the gateway tables)
import registry.models  # noqa: F401  (registers the registry tables)
from exchange.db import MIGRATIONS as EXCHANGE_MIGRATIONS
from registry import db
from registry.catalogue import load_catalogue
from shuyuan import sample_catalogue
from shuyuan.app import migrate

REGISTRY_TABLES = {
    "department",
    "data_element",
    "service_item",
    "material",
    "material_element",
    "sharing_agreement",
    "department_key",
    # the identity issue: client systems (s4_*)
    "client_system",
    "client_key",
    # the registry issue (r3_*)
    "element_history",
    "element_alias",
    "source_dispute",
    "source_handover",
    "subscription",
    # the console (c3_*)
    "console_user",
    # the trust-boundaries issue (p9_*)
    "service_item_participant",
    # the events issue (e11_*)
    "event_type",
    # bundles (一件事, b12_*)
    "service_item_subject",
    "service_item_step",
    "service_item_step_material",
}
GATEWAY_TABLES = {"audit_entry", "query_record", "auth_used_assertion"} | {
    "audit_chain_head",
    "audit_checkpoint",
    "audit_key",
    "audit_archive",  # the audit issue (a5_0001)
    "transparency_restriction",  # citizen transparency (t5_*)
    "correction",  # corrections (c11_0001)
    "event",  # events (e12_0001)
    "event_delivery",
    "consent_request",
    "async_result",  # asynchronous queries (ar12_0001)
}
VERSION_TABLES = {"registry_alembic_version", "exchange_alembic_version"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty SQLite database."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_downgrade_upgrade(engine: Engine) -> None:
    migrate(engine)
    assert _tables(engine) == REGISTRY_TABLES | GATEWAY_TABLES | VERSION_TABLES
    sample_catalogue.seed(engine)

    db.downgrade(engine, "base", script_location=EXCHANGE_MIGRATIONS)
    assert _tables(engine) == REGISTRY_TABLES | VERSION_TABLES
    db.downgrade(engine, "base")
    assert _tables(engine) == VERSION_TABLES

    migrate(engine)
    assert _tables(engine) == REGISTRY_TABLES | GATEWAY_TABLES | VERSION_TABLES
    assert sample_catalogue.seed(engine) is True  # the downgrade really emptied the registry
    assert len(load_catalogue(engine).elements) == len(sample_catalogue.ELEMENTS)


def test_migrate_is_idempotent(engine: Engine) -> None:
    migrate(engine)
    sample_catalogue.seed(engine)
    migrate(engine)
    assert sample_catalogue.seed(engine) is False
    assert len(load_catalogue(engine).departments) == len(sample_catalogue.DEPARTMENTS)


def test_the_trees_are_independent(engine: Engine) -> None:
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    assert _tables(engine) == GATEWAY_TABLES | {"exchange_alembic_version"}
    db.upgrade(engine)
    assert _tables(engine) == REGISTRY_TABLES | GATEWAY_TABLES | VERSION_TABLES


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    migrate(engine)
    ours = REGISTRY_TABLES | GATEWAY_TABLES

    def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        if type_ == "table":
            return name in ours
        table = getattr(obj, "table", None)
        return table is None or table.name in ours

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _include, "compare_type": True})
        diffs = compare_metadata(context, SQLModel.metadata)
    assert diffs == []
