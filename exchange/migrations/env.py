"""Alembic environment of the gateway's tables (version table `exchange_alembic_version`)."""

from typing import Any

from alembic import context
from sqlmodel import SQLModel

import exchange.models  # noqa: F401  (registers every gateway table on the metadata)

OUR_TABLES = frozenset(
    {"query_record", "audit_entry"}
    | {"auth_used_assertion"}  # the identity issue: used client-assertion ids (revision a4_0001)
    | {"audit_chain_head", "audit_checkpoint", "audit_key", "audit_archive"}  # the audit issue (a5_0001)
    | {"transparency_restriction"}  # citizen transparency (t5_0001)
)


def _ours(obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
    return type_ != "table" or name in OUR_TABLES


def run_migrations_online() -> None:
    """Migrate using the engine the caller put on the config."""
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            include_object=_ours,
            version_table="exchange_alembic_version",
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
