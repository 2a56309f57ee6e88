"""The registered value schema travels from the registry, through the gateway's signed request, to
the source over the real broker; the source checks its value against it before signing and answers
`failed` rather than vouch for a value that breaks it (issue 9 item 7: the handoff, end to end)."""

import json

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import text

from shuyuan.app import app_state
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.integration.conftest import World
from tests.sourcekit import request_of

pytestmark = pytest.mark.integration
STRICT = {"type": "number", "maximum": 1}  # every real contribution base breaks it


def test_a_value_breaking_the_registered_schema_is_not_signed_by_the_source(world: World) -> None:
    world.start_connector("hrss")
    with TestClient(world.gateway(source_timeout_s=10.0)) as client:
        state = app_state(client.app)  # type: ignore[arg-type]
        with state.engine.begin() as conn:  # the steward tightened the element's schema
            conn.execute(
                text("UPDATE data_element SET value_schema = :s WHERE code = 'person.si_contribution_base'"),
                {"s": json.dumps(STRICT)},
            )
        state.changes.changed()
        spy = KafkaConsumer(bootstrap_servers=world.bootstrap.split(","), group_id=None)
        tps = [TopicPartition(f"shuyuan.req.{world.dept('hrss')}", p) for p in range(3)]
        spy.assign(tps)
        spy.seek_to_end(*tps)
        for tp in tps:
            spy.position(tp)
        answer = world.consumer(client).query(
            subject_type="person",
            subject_id=world.subjects.demo_person,
            elements=["person.si_contribution_base", "person.si_months_paid"],
            service_item=HOUSING_ITEM,
            case_no="ZJJ-SCHEMA-1",
            on_behalf_of="wang.fang",
        )
        sent = [request_of(r.value) for recs in spy.poll(timeout_ms=5000).values() for r in recs]
        spy.close()
    (request,) = sent
    assert request.value_schemas["person.si_contribution_base"] == STRICT  # handed over, signed
    by_code = {r.code: (r.status, r.reason) for r in answer.results}
    assert by_code == {
        "person.si_contribution_base": ("unavailable", "source_unavailable"),
        "person.si_months_paid": ("ok", None),
    }
