"""SCENARIOS.md A over the real broker and PostgreSQL, end to end: 个体工商户设立登记.

行政审批局 fetches the sole trader's identity (公安局) and proof of premises (不动产登记中心) instead of
asking for the papers, checks the court's dishonest-debtor list (the applicant is not on it, another
applicant is), is refused the income proxies registration does not need, and on issuing the food
business licence publishes `license.issued`: 市场监管 and the food-safety office are told at once.
"""

import sqlite3
import time
from typing import Any

import pytest

from connectors.client import ConsumerClient, QueryAnswer
from connectors.events import ReceivedEvent
from shuyuan.sample_catalogue import LICENSE_ISSUED, SOLE_TRADER_ITEM
from tests.integration.conftest import World
from tests.integration.test_events_over_kafka import (
    FOOD,
    events_client,
    gateway,
    payload,
    subscribe,
    wait_for,
)

pytestmark = pytest.mark.integration
IDENTITY = ["person.name", "person.registered_address"]
PREMISES = ["person.property_certificate_no", "person.property_address", "person.property_owner"]


def _ask(xzsp: ConsumerClient, person: str, elements: list[str]) -> QueryAnswer:
    return xzsp.query(
        subject_type="person",
        subject_id=person,
        elements=elements,
        service_item=SOLE_TRADER_ITEM,
        case_no="XZSP-GTH-2026-0001",
        on_behalf_of="li.na",
    )


def _register(world: World, dept: str, sql: str, *args: str) -> Any:
    with sqlite3.connect(world.data_dir / f"{dept}.sqlite") as db:
        return db.execute(sql, args).fetchone()


def test_scenario_a_end_to_end(world: World) -> None:
    trader, debtor = world.subjects.sole_trader, world.subjects.dishonest_person
    received: dict[str, list[ReceivedEvent]] = {"amr": [], "fso": []}
    with gateway(world) as client:
        world.start_sources(("psb", "bdc", "court", "hrss"))
        xzsp = world.consumer(client, code="xzsp", system="xzsp-approval")

        # The ID card copy and the proof of premises, fetched instead of brought.
        answer = _ask(xzsp, trader, [*IDENTITY, *PREMISES, "person.dishonest_debtor"])
        assert answer.status == "complete", answer.as_dict()
        got = answer.values()
        name, address = _register(
            world, "psb", "SELECT name, registered_address FROM hukou_person WHERE resident_id = ?", trader
        )
        assert (got["person.name"], got["person.registered_address"]) == (name, address)
        certificate, premises = _register(
            world,
            "bdc",
            "SELECT r.certificate_no, r.address FROM property_right r JOIN property_owner o "
            "USING (certificate_no) WHERE o.resident_id = ? ORDER BY r.registered_on DESC LIMIT 1",
            trader,
        )
        assert (got["person.property_certificate_no"], got["person.property_address"]) == (
            certificate,
            premises,
        )
        assert name in got["person.property_owner"]
        assert got["person.dishonest_debtor"] is False
        assert {r.source for r in answer.results} == {
            world.dept("psb"),
            world.dept("bdc"),
            world.dept("court"),
        }
        # Another applicant is on the court's list: the check answers true, and the bureau refuses him.
        assert _ask(xzsp, debtor, ["person.dishonest_debtor"]).values() == {"person.dishonest_debtor": True}
        # Income proxies are not needed for registration: refused, whatever the agreement of 住建局.
        refused = _ask(xzsp, trader, ["person.si_contribution_base"])
        assert [(r.status, r.reason) for r in refused.results] == [("denied", "not_necessary_for_purpose")]

        # The licence is issued: 双告知 to 市场监管 and, for a food business, the food-safety office.
        subscribe(world, client, "amr", received["amr"].append)
        subscribe(world, client, "fso", received["fso"].append)
        started = time.monotonic()
        read = events_client(world, client, "xzsp").publish(
            type=LICENSE_ISSUED,
            subject_type="enterprise",
            subject_id=world.subjects.demo_enterprise,
            routing=FOOD,
            payload=payload(FOOD),
        )
        wait_for(lambda: bool(received["amr"]) and bool(received["fso"]))
        told_in = time.monotonic() - started
    # Told at once, not weekly. The within-a-second bound is test_events_over_kafka's, on a broker
    # with only its subscribers; here four source connectors share the two cores, so a looser bound.
    assert told_in < 5.0, f"told after {told_in:.2f} s"
    assert (
        [e.event_id for e in received["amr"]] == [e.event_id for e in received["fso"]] == [read["event_id"]]
    )
