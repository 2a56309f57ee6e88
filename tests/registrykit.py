"""Test helpers of the registry: an app serving only the registry API, and steward/department headers.

Not a conftest: imported by the registry unit tests (SQLite) and integration tests (PostgreSQL). The
app has no OAuth2 layer (the gateway adds it, tested by the auth tests); callers name themselves
with the interim X-Actor headers.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from registry.api import router as registry_router
from registry.events import RegistryChanges, RegistryEvent
from registry.settings import RegistrySettings
from registry.state import RegistryState, attach
from web.problems import install_problem_handlers

STEWARD = {"X-Actor": "steward-li", "X-Actor-Role": "steward"}


def as_dept(code: str, user: str = "clerk") -> dict[str, str]:
    """Headers of a user acting for a department."""
    return {"X-Actor": user, "X-Actor-Department": code}


def registry_app(
    engine: Engine, settings: RegistrySettings | None = None
) -> tuple[FastAPI, list[RegistryEvent]]:
    """The registry API on this (migrated) engine, and the list its committed events are appended to."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(registry_router)
    changes = RegistryChanges()
    seen: list[RegistryEvent] = []
    changes.subscribe_events(seen.extend)
    # The bare registry app alone trusts the X-Actor headers; the gateway takes the actor from the token.
    state = RegistryState(
        engine=engine, changes=changes, registry_settings=settings or RegistrySettings(), actor_headers=True
    )
    attach(app, state)
    return app, seen


@contextmanager
def registry_client(
    engine: Engine, settings: RegistrySettings | None = None
) -> Iterator[tuple[TestClient, list[RegistryEvent]]]:
    """A TestClient of registry_app."""
    app, seen = registry_app(engine, settings)
    with TestClient(app) as client:
        yield client, seen


@contextmanager
def seeded_registry(url: str) -> Iterator[Engine]:
    """An engine on a database migrated (both trees) and holding the sample catalogue."""
    from registry import db
    from shuyuan import sample_catalogue
    from shuyuan.app import migrate

    engine = db.make_engine(url)
    migrate(engine)
    sample_catalogue.seed(engine)
    try:
        yield engine
    finally:
        engine.dispose()
