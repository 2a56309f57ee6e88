"""Console accounts on PostgreSQL: the c3 migration branch up and down, sign-in and lockout."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import inspect

from console.settings import ConsoleSettings
from console.users import service as users
from registry import db

pytestmark = pytest.mark.integration
SETTINGS = ConsoleSettings(environment="test", max_failed_logins=2, lockout_s=30)


def test_console_accounts_on_postgres(pg_database: str) -> None:
    engine = db.make_engine(pg_database)
    try:
        db.upgrade(engine)
        assert "console_user" in inspect(engine).get_table_names()
        with db.unit_of_work(engine) as session:
            assert [u for u, _, _ in users.ensure_demo_accounts(session=session, settings=SETTINGS)] == [
                "steward",
                "officer",
                "viewer",
            ]
            assert (
                users.ensure_demo_accounts(session=session, settings=SETTINGS) == []
            )  # only on an empty table
        with db.unit_of_work(engine) as session:
            ok = users.authenticate(
                session=session, username="officer", password="officer-demo-2026", settings=SETTINGS
            )
            assert ok.user is not None and ok.user.role == "security_officer"
            for _ in range(2):
                failed = users.authenticate(
                    session=session, username="viewer", password="nope", settings=SETTINGS
                )
            assert failed.failure == "locked" and failed.locked_until is not None
        with db.unit_of_work(engine) as session:  # the lock was committed with the failures
            locked = users.authenticate(
                session=session, username="viewer", password="viewer-demo-2026", settings=SETTINGS
            )
            assert locked.failure == "locked"
        # The console's branch goes down alone and comes back; the registry's tables stay.
        db.downgrade(engine, "console@-2")  # c3_0002, then c3_0001
        tables = set(inspect(engine).get_table_names())
        assert "console_user" not in tables and "data_element" in tables
        db.upgrade(engine)
        assert "console_user" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_parallel_failed_sign_ins_are_all_counted(pg_database: str) -> None:
    """Failures are counted by one UPDATE in the database: parallel attempts cannot lose a count."""
    engine = db.make_engine(pg_database)
    lenient = ConsoleSettings(environment="test", max_failed_logins=1000, lockout_s=30)
    try:
        db.upgrade(engine)
        with db.unit_of_work(engine) as session:
            users.create(
                session=session, username="target", password="x" * 12, role="viewer", settings=lenient
            )

        def fail(_: int) -> str | None:
            with db.unit_of_work(engine) as session:
                return users.authenticate(
                    session=session, username="target", password="wrong", settings=lenient
                ).failure

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(fail, range(16))) == {"invalid"}
        with db.unit_of_work(engine) as session:
            user = users.get_by_username(session=session, username="target")
            assert user is not None and user.failed_logins == 16
    finally:
        engine.dispose()
