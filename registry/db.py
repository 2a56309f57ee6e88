"""Database engines, sessions and migrations for SQLite and PostgreSQL."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlmodel import Session, create_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with a pool; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # Foreign keys are off by default in SQLite; the one-source rule relies on them.
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    # Bounded waits: a database that does not answer gives `503 database_unavailable` in seconds
    # (web/problems.py), not after the driver's and the pool's defaults (unbounded, 30 s).
    kwargs.setdefault("pool_timeout", 5)
    if url.startswith("postgresql"):
        kwargs.setdefault("connect_args", {"connect_timeout": 3})
    return create_engine(url, **kwargs)


def alembic_config(engine: Engine, script_location: Path = MIGRATIONS) -> Config:
    """An Alembic config bound to this engine for one migration tree."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads", script_location: Path = MIGRATIONS) -> None:
    """Run a migration tree (the registry's by default) up to a revision (every branch head by default).

    Independent features add migration branches off the same base; "heads" applies all of them.
    """
    command.upgrade(alembic_config(engine, script_location), revision)


def downgrade(engine: Engine, revision: str, script_location: Path = MIGRATIONS) -> None:
    """Run a migration tree down to a revision."""
    command.downgrade(alembic_config(engine, script_location), revision)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def begin_for_savepoints(session: Session) -> None:
    """Make sure the session's transaction is really open before savepoints are used in it.

    pysqlite defers BEGIN to the first INSERT/UPDATE/DELETE; a SAVEPOINT issued before that opens a
    transaction of its own, and releasing it would commit. A no-op UPDATE starts the real transaction.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            "UPDATE registry_alembic_version SET version_num = version_num WHERE 1 = 0"
        )
