"""Client authentication across gateway instances sharing one PostgreSQL database.

An assertion is accepted once by the whole fleet, a token issued by one instance is honoured by
another, and disabling a system or revoking its key through one instance is refused by the other at
its very next request (no cache, no event needed).
"""

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from connectors.client_auth import make_assertion
from exchange.auth.store import AuthStore
from exchange.settings import GatewaySettings
from shuyuan import sample_catalogue, sample_systems
from shuyuan.app import create_app
from tests.authkit import authorize, bearer, token_form

pytestmark = pytest.mark.integration
TOKEN_URL = "http://testserver/oauth/token"
CLIENT = "zjj-housing"


@pytest.fixture
def fleet(pg_database: str, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, dict]]:
    """Two gateway instances on one database; the sample systems' keys; A's client holds every scope."""
    keys = sample_systems.ensure_keys(tmp_path)

    def prepare(engine: Engine) -> None:
        sample_catalogue.seed(engine)
        sample_systems.register(engine, keys)

    with ExitStack() as stack:
        apps = [
            create_app(
                GatewaySettings(
                    database_url=pg_database, transport="memory", environment="test", gateway_id=f"gw-{i}"
                ),
                prepare=prepare,
            )
            for i in range(2)
        ]
        a, b = (stack.enter_context(TestClient(app)) for app in apps)
        authorize(a)
        yield a, b, keys


def test_a_token_from_one_instance_is_honoured_by_the_other(
    fleet: tuple[TestClient, TestClient, dict],
) -> None:
    a, b, keys = fleet
    token = bearer(a, keys[CLIENT], CLIENT)
    assert b.get("/v1/departments/zjj", headers=token).status_code == 200


def test_an_assertion_is_accepted_once_by_the_whole_fleet(fleet: tuple[TestClient, TestClient, dict]) -> None:
    a, b, keys = fleet
    assertion = make_assertion(keys[CLIENT], client_id=CLIENT, audience=TOKEN_URL)
    assert a.post("/oauth/token", data=token_form(assertion)).status_code == 200
    replay = b.post("/oauth/token", data=token_form(assertion))
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    # Sent to both at the same moment, one of them wins: the database decides, not a local cache.
    for _ in range(5):
        form = token_form(make_assertion(keys[CLIENT], client_id=CLIENT, audience=TOKEN_URL))
        codes: list[int] = []

        def _send(client: TestClient, form: dict[str, str] = form, codes: list[int] = codes) -> None:
            codes.append(client.post("/oauth/token", data=form).status_code)

        threads = [threading.Thread(target=_send, args=(c,)) for c in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes) == [200, 401]


def test_disabling_through_one_instance_stops_the_other_at_once(
    fleet: tuple[TestClient, TestClient, dict],
) -> None:
    a, b, keys = fleet
    token = bearer(b, keys[CLIENT], CLIENT)
    assert b.get("/v1/elements", headers=token).status_code == 200
    assert a.patch(f"/v1/systems/{CLIENT}", json={"status": "disabled"}).status_code == 200
    refused = b.get("/v1/elements", headers=token)
    assert refused.status_code == 403 and refused.json()["reason"] == "client_disabled"
    assert a.patch(f"/v1/systems/{CLIENT}", json={"status": "active"}).status_code == 200
    assert b.get("/v1/elements", headers=token).status_code == 200


def test_revoking_a_key_through_one_instance_stops_the_other_at_once(
    fleet: tuple[TestClient, TestClient, dict],
) -> None:
    a, b, keys = fleet
    token = bearer(b, keys[CLIENT], CLIENT)
    kid = keys[CLIENT]["kid"]
    assert a.post(f"/v1/systems/{CLIENT}/keys/{kid}/revoke").status_code == 200
    assert b.get("/v1/elements", headers=token).json()["reason"] == "unauthenticated"
    assertion = make_assertion(keys[CLIENT], client_id=CLIENT, audience=TOKEN_URL)
    assert b.post("/oauth/token", data=token_form(assertion)).json()["error"] == "invalid_client"


def test_used_assertion_ids_expire_from_the_shared_table(pg_database: str, fleet: tuple) -> None:
    engine = create_engine(pg_database)
    try:
        store = AuthStore(engine)
        now = datetime.now(UTC)
        assert store.claim_assertion(CLIENT, "expired-jti-1", expires_at=now - timedelta(seconds=1))
        assert store.purge_expired() >= 1
        with engine.connect() as conn:
            left = conn.execute(text("SELECT jti FROM auth_used_assertion WHERE expires_at < now()")).all()
            version = conn.execute(text("SELECT version_num FROM exchange_alembic_version")).scalars().all()
        assert left == [] and "a4_0001" in version
    finally:
        engine.dispose()
