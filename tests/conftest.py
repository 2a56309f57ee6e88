"""Fixtures shared by the whole suite.

Integration and end-to-end tests need the real broker and database that `make test` starts. They
never skip: a missing service is a failure, so CI cannot go green without having run them.
"""

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import authorize

HOW_TO = "run the suite with `make test`, which starts Kafka and PostgreSQL (deploy/services.sh)"


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Embedded]:
    """The embedded exchange (SQLite, in-process transport, sample departments) on a fresh data folder."""
    yield build_embedded(tmp_path)


@pytest.fixture
def client(embedded: Embedded) -> Iterator[TestClient]:
    """An HTTP client of the embedded exchange, with its lifespan running.

    It sends by default a real access token of a test system of 住建局 (`zjj-test`, every scope);
    tests of other callers pass their own Authorization header (tests/authkit.py).
    """
    with TestClient(embedded.app) as test_client:
        authorize(test_client)
        yield test_client


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The real broker's bootstrap address; fails (never skips) when it is not reachable."""
    bootstrap = os.environ.get("SHUYUAN_TEST_KAFKA_BOOTSTRAP")
    if not bootstrap:
        pytest.fail(f"SHUYUAN_TEST_KAFKA_BOOTSTRAP is not set: {HOW_TO}")
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10_000)
        admin.list_topics()
        admin.close()
    except Exception as exc:
        pytest.fail(f"Kafka at {bootstrap} is not reachable ({exc}): {HOW_TO}")
    return bootstrap


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The real PostgreSQL test database's URL; fails (never skips) when it is not reachable."""
    url = os.environ.get("SHUYUAN_TEST_DATABASE_URL")
    if not url:
        pytest.fail(f"SHUYUAN_TEST_DATABASE_URL is not set: {HOW_TO}")
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {make_url(url).render_as_string()} is not reachable ({exc}): {HOW_TO}")
    return url


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin: Engine, name: str) -> None:
    # A process still closing its pool, or an autovacuum worker, can hold the database for a moment.
    for attempt in range(10):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except Exception:
            if attempt == 9:
                raise
            time.sleep(0.5)
