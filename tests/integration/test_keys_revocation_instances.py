"""Revocation takes effect at once across gateway instances: a key revoked through one instance is no
longer used by another, whose own key cache would keep it for a minute, because the registry's change
event reaches it over `shuyuan.registry`."""

import time

import pytest
from fastapi.testclient import TestClient

from registry import events
from registry.actors import Actor
from registry.db import unit_of_work
from registry.keys import service as keys_service
from shuyuan.app import app_state
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.integration.conftest import World

pytestmark = pytest.mark.integration


def _revoke_through(client: TestClient, dept: str, kid: str) -> None:
    """Revoke as the registry API does: one unit of work, then announce its events."""
    state = app_state(client.app)  # type: ignore[arg-type]
    with unit_of_work(state.engine) as session:
        keys_service.revoke(
            session=session, department=dept, kid=kid, actor=Actor(name="officer", department=dept)
        )
        recorded = list(events.pending(session))
    state.changes.changed(recorded)


def test_a_key_revoked_on_one_instance_is_dropped_by_the_other(world: World) -> None:
    world.start_connector("psb")
    with (
        TestClient(world.gateway(reply_partition=0, gateway_id="gw-a")) as a,
        TestClient(world.gateway(reply_partition=1, gateway_id="gw-b", key_cache_s=60)) as b,
    ):
        consumer = world.consumer(b)

        def ask() -> list[tuple[str, str | None]]:
            answer = consumer.query(
                subject_type="person",
                subject_id=world.subjects.demo_person,
                elements=["person.name"],
                service_item=HOUSING_ITEM,
                case_no="ZJJ-REVOKE-1",
                on_behalf_of="wang.fang",
            )
            return [(r.status, r.reason) for r in answer.results]

        assert ask() == [("ok", None)]  # b has now cached psb's encryption key for 60 s
        psb_enc = next(iter(world.keys("psb").encryption))
        revoked_at = time.monotonic()
        _revoke_through(a, world.dept("psb"), psb_enc)
        outcome = ask()
        while outcome != [("unavailable", "source_unavailable")] and time.monotonic() - revoked_at < 10:
            time.sleep(0.1)
            outcome = ask()
        elapsed = time.monotonic() - revoked_at
    assert outcome == [("unavailable", "source_unavailable")]
    assert elapsed < 10, elapsed  # the event, not the 60 s cache, made b drop the key
    print(f"revocation seen by the other instance after {elapsed:.2f} s")
