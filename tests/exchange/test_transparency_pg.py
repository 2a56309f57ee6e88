"""The citizen's view and restrictions on PostgreSQL (the migration, time comparisons, the audit)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.settings import GatewaySettings
from exchange.transparency import service
from shuyuan.embedded import build_embedded
from tests.authkit import authorize
from tests.exchange.test_transparency_api import ACCESSES, RESTRICTIONS, Gateway, ask, audit_rows, citizen
from tests.exchange.test_transparency_oidc import IdP

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_gateway(pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The embedded exchange on a fresh PostgreSQL database, trusting a local provider."""
    idp = IdP(tmp_path)
    for name, value in idp.env().items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings(database_url=pg_database, transport="memory", environment="test")
    embedded = build_embedded(tmp_path / "exchange", settings=settings)
    with TestClient(embedded.app) as client:
        authorize(client)
        yield embedded, client, idp


def test_restriction_hides_and_expires_on_postgresql(pg_gateway: Gateway) -> None:
    embedded, client, idp = pg_gateway
    me = embedded.subjects.demo_person
    secret, shown = ask(client, me, ["person.name"]), ask(client, me, ["person.name"])
    embargo = datetime.now(UTC) + timedelta(hours=1)
    body = {"query_id": secret, "embargo_until": embargo.isoformat(), "reason": "GA-2026-17"}
    assert client.post(RESTRICTIONS, json=body).status_code == 201
    view = client.get(ACCESSES, headers=citizen(idp, me)).json()
    assert [a["query_id"] for a in view["accesses"]] == [shown]
    assert [r.request_id for r in audit_rows(embedded, "transparency.hidden")] == [secret]
    # The same records read an hour and a second later: the embargo has passed.
    index = embedded.state.platform_keys.blind_index("person", me)
    later, hidden, _ = service.accesses(
        engine=embedded.state.engine,
        subject_index=index,
        now=embargo + timedelta(seconds=1),
        limit=10,
    )
    assert [a["query_id"] for a in later] == [shown, secret] and hidden == []
