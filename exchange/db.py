"""The gateway's own migration tree (version table `exchange_alembic_version`), beside the registry's."""

from pathlib import Path

from sqlalchemy import Engine

from registry import db

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(engine: Engine) -> None:
    """Bring the registry's and then the gateway's tables to the latest revision."""
    db.upgrade(engine)
    db.upgrade(engine, script_location=MIGRATIONS)
