"""Alembic environment of the registry's tables (version table `registry_alembic_version`)."""

from typing import Any

from alembic import context
from sqlmodel import SQLModel

import registry.models  # noqa: F401  (registers every registry table on the metadata)

REGISTRY_TABLES = frozenset(
    {"department", "data_element", "service_item", "material", "material_element", "sharing_agreement"}
    # the registry issue (revisions r3_*)
    | {"element_history", "element_alias", "source_dispute", "source_handover", "subscription"}
    # the identity issue: department keys (revision k4_0001)
    | {"department_key"}
    # the identity issue: client systems and their keys (revision s4_0001)
    | {"client_system", "client_key"}
    # the console issue: local accounts of the stewards' console (revision c3_0001)
    | {"console_user"}
    # the trust-boundaries issue: departments taking part in a service item (revision p9_0001)
    | {"service_item_participant"}
)


def _ours(obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
    return type_ != "table" or name in REGISTRY_TABLES


def run_migrations_online() -> None:
    """Migrate using the engine the caller put on the config."""
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            include_object=_ours,
            version_table="registry_alembic_version",
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
