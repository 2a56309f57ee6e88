"""Registry changes on the audit chain name who made them: the token's department and system, never a
user named in a header (issue 9: X-Actor sets nothing behind the gateway)."""

import time

from fastapi.testclient import TestClient

from shuyuan.app import app_state
from tests.authkit import STEWARD_CLIENT, steward_headers


def _rows(client: TestClient, action_prefix: str) -> list[tuple]:
    engine = app_state(client.app).engine  # type: ignore[arg-type]
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT action, actor_department, actor_system, actor_user, hash FROM audit_entry"
                " WHERE action LIKE ? ORDER BY seq",
                (f"{action_prefix}%",),
            )
        ]


def test_a_registry_write_through_the_gateway_names_its_actor(client: TestClient) -> None:
    response = client.post(
        "/v1/departments",
        json={"code": "tyj", "name": "体育局", "name_en": "Sports Bureau"},
        headers=steward_headers(client) | {"X-Actor": "clerk-wang"},  # departments are a steward's
    )
    assert response.status_code == 201, response.text
    rows: list[tuple] = []
    deadline = time.monotonic() + 5  # the record follows the commit on the event loop
    while time.monotonic() < deadline and not rows:
        rows = _rows(client, "registry.")
        time.sleep(0.05)
    assert rows, "no registry record on the chain"
    action, department, system, user, digest = rows[-1]
    assert (department, system, user) == ("xzsp", STEWARD_CLIENT, None)
    assert action.startswith("registry.") and digest
