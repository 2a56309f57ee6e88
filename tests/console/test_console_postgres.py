"""Console accounts on PostgreSQL: the c3 migration branch up and down, sign-in and lockout."""

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
        db.downgrade(engine, "console@-1")
        tables = set(inspect(engine).get_table_names())
        assert "console_user" not in tables and "data_element" in tables
        db.upgrade(engine)
        assert "console_user" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
