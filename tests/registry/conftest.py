"""Fixtures of the registry unit tests: a migrated SQLite registry with the sample catalogue."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from registry import db
from registry.events import RegistryEvent
from shuyuan import sample_catalogue
from tests.registrykit import registry_client


@pytest.fixture
def registry_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite registry (every migration) holding the sample catalogue."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    db.upgrade(engine)
    sample_catalogue.seed(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def api(registry_engine: Engine) -> Iterator[TestClient]:
    """An HTTP client of the registry API on that registry."""
    with registry_client(registry_engine) as (client, _seen):
        yield client


@pytest.fixture
def api_events(registry_engine: Engine) -> Iterator[tuple[TestClient, list[RegistryEvent]]]:
    """The client and the list of events its committed writes announced."""
    with registry_client(registry_engine) as pair:
        yield pair


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A client of one sample exchange shared by a module: for reads and for writes that are refused.

    A test that stores something takes the per-test `client` instead.
    """
    from shuyuan.embedded import build_embedded
    from tests.authkit import authorize

    embedded = build_embedded(tmp_path_factory.mktemp("registry"))
    with TestClient(embedded.app) as client:
        authorize(client)  # the same default caller as the per-test `client` (tests/conftest.py)
        yield client
