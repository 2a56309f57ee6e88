"""Registry change events over Kafka: a write through one gateway changes another gateway's decisions
at once, without waiting for its periodic catalogue refresh."""

import json
import time

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from exchange.authz.engine import Decision, decide
from protocol.topics import DEFAULT
from registry.systems.models import SCOPES
from shuyuan.app import app_state, create_app
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.authkit import authorize
from tests.integration.conftest import World
from tests.registrykit import STEWARD

pytestmark = pytest.mark.integration


def _decision(client: TestClient, world: World, element: str) -> Decision:
    catalogue = client.portal.call(app_state(client.app).catalogue.current)  # type: ignore[union-attr, arg-type]
    return decide(
        catalogue,
        consumer=world.dept("zjj"),
        element_code=element,
        service_item=HOUSING_ITEM,
        subject_type="person",
    )


def test_a_write_through_gateway_a_changes_gateway_b_decisions_within_seconds(world: World) -> None:
    slow = {"catalogue_refresh_s": 300.0}
    with TestClient(world.gateway(gateway_id="gw-a", reply_partition=0, **slow)) as a:
        # The data steward's own system: the steward role is the `registry:steward` scope.
        authorize(a, client_id="steward-console", department=world.dept("zjj"), scopes=list(SCOPES))
        app_b = create_app(world.settings(gateway_id="gw-b", reply_partition=1, **slow))
        with TestClient(app_b) as b:
            assert _decision(b, world, "person.si_status").allowed
            # A message that is not an event must not stop the reader.
            producer = KafkaProducer(bootstrap_servers=world.bootstrap.split(","))
            producer.send(DEFAULT.registry_topic, b"not json").get(10)
            producer.close()

            end = _topic_end(world.bootstrap)
            response = a.patch(
                "/v1/elements/person.si_status",
                json={"sharing_type": "not_shared", "reason": "测试"},
                headers=STEWARD,
            )
            assert response.status_code == 200, response.text
            started = time.monotonic()
            while _decision(b, world, "person.si_status").allowed and time.monotonic() - started < 5:
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            assert _decision(b, world, "person.si_status").reason == "not_shared"
            assert elapsed < 3, f"gateway B saw the change after {elapsed:.1f} s"
            event = _first_event_after(world.bootstrap, end, "person.si_status")
            assert (event["type"], event["entity"], event["version"]) == ("element.updated", "element", 2)
            assert set(event) >= {"type", "entity", "code", "version", "at", "origin"}


def _topic_end(bootstrap: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False)
    tp = TopicPartition(DEFAULT.registry_topic, 0)
    consumer.assign([tp])
    consumer.seek_to_end(tp)
    end = consumer.position(tp)
    consumer.close()
    return end


def _first_event_after(bootstrap: str, offset: int, code: str) -> dict[str, object]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False)
    tp = TopicPartition(DEFAULT.registry_topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, offset)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    event = json.loads(record.value)
                    if event.get("code") == code:
                        return event  # type: ignore[no-any-return]
    finally:
        consumer.close()
    raise AssertionError(f"no event for {code} on {DEFAULT.registry_topic}")
