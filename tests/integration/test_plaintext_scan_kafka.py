"""No plaintext at rest on the way (DESIGN.md §2.5): after real queries over the real broker, the raw
bytes of every record of every `shuyuan.*` topic (values, keys, headers) and every row of every table
of the gateway's PostgreSQL database hold none of the values answered nor the subject identifiers.

The subjects are fresh, random records added to this test's own department registers, so a hit can
only come from this test's traffic (other tests and benchmarks share the broker with the same sample
data), while the scan still reads every topic from its beginning.
"""

import base64
import json
import random
import sqlite3
import time
import uuid
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import create_engine, inspect, text

from protocol.identifiers import make_resident_id, make_uscc
from shuyuan.sample_catalogue import FOOD_LICENCE_ITEM, HOUSING_ITEM, LICENSE_ISSUED
from tests.integration.conftest import World

pytestmark = pytest.mark.integration

PERSON_ELEMENTS = [
    "person.name",
    "person.registered_address",
    "person.household_members",
    "person.si_status",
    "person.si_contribution_base",
    "person.employer_name",
]
ENTERPRISE_ELEMENTS = [
    "enterprise.name",
    "enterprise.legal_representative",
    "enterprise.address",
    "enterprise.business_scope",
]


def _unique_subjects(world: World) -> dict[str, str]:
    """Insert a random person (psb, hrss) and enterprise (amr) with unique values; return the needles."""
    rng = random.Random()
    tag = uuid.uuid4().hex[:10]
    person = make_resident_id(
        f"33{rng.randrange(10000):04d}", date(1960 + rng.randrange(40), 3, 7), rng.randrange(1000)
    )
    unknown = make_resident_id(
        f"33{rng.randrange(10000):04d}", date(1950 + rng.randrange(40), 5, 9), rng.randrange(1000)
    )
    uscc = make_uscc("9", "1", f"33{rng.randrange(10000):04d}", f"{rng.randrange(10**8):08d}X")
    values = {
        "person": person,
        "unknown": unknown,
        "uscc": uscc,
        "name": f"明文{tag}",
        "address": f"浙江省杭州市明文路{tag}号",
        "employer": f"明文雇主{tag}有限公司",
        "enterprise": f"明文企业{tag}有限公司",
        "legal_rep": f"法人{tag}",
        "scope": f"明文经营范围{tag}",
        "base": f"{rng.randrange(10**6, 10**7)}.{rng.randrange(10, 99)}",
        "licence": f"JY{rng.randrange(10**13, 10**14)}",
    }
    with sqlite3.connect(world.data_dir / "psb.sqlite") as conn:
        conn.execute(
            "INSERT INTO hukou_person VALUES (?, ?, '女', '1970-03-07', '汉族', ?, ?, '户主')",
            (person, values["name"], values["address"], f"HH-{tag}"),
        )
    with sqlite3.connect(world.data_dir / "hrss.sqlite") as conn:
        conn.execute(
            "INSERT INTO si_insured VALUES (?, ?, '参保缴费', ?, 120, ?, NULL)",
            (person, values["name"], values["base"], values["employer"]),
        )
    with sqlite3.connect(world.data_dir / "amr.sqlite") as conn:
        conn.execute(
            "INSERT INTO business_licence VALUES "
            "(?, ?, ?, ?, '有限责任公司', '100万元', '2010-01-01', ?, ?, '存续')",
            (uscc, values["enterprise"], values["legal_rep"], person, values["scope"], values["address"]),
        )
    return values


def _forms(needle: str) -> set[bytes]:
    """The byte forms a leaked string could take: UTF-8, JSON-escaped, hex (bytea), base64url (JWS)."""
    raw = needle.encode()
    forms = {raw, raw.hex().encode(), json.dumps(needle).strip('"').encode()}
    for shift in range(3):  # base64url is only stable from a 3-byte boundary of the encoded text
        encoded = base64.urlsafe_b64encode(b"x" * shift + raw).rstrip(b"=")
        start = (shift + 2) // 3 * 4
        stable = (len(raw) - (-shift % 3)) // 3 * 4
        if stable >= 8:
            forms.add(encoded[start : start + stable])
    return forms


def _kafka_records(bootstrap: str) -> list[bytes]:
    """Every record of every shuyuan.* topic, from the beginning to the end offsets at call time."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, group_id=None)
    try:
        topics = sorted(t for t in consumer.topics() if t.startswith("shuyuan."))
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        ends = consumer.end_offsets(partitions)
        starts = consumer.beginning_offsets(partitions)
        # Only partitions holding records: an empty one (or one of a topic another test's teardown is
        # deleting at this moment) has nothing to scan, and asking its position could wait for ever.
        partitions = [tp for tp in partitions if ends[tp] > starts[tp]]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        pending = set(partitions)
        blobs: list[bytes] = []
        deadline = time.monotonic() + 240
        while pending and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                for r in records:
                    blobs.append(
                        b"".join(
                            [r.key or b"", r.value or b""] + [k.encode() + (v or b"") for k, v in r.headers]
                        )
                    )
                if consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        assert not pending, f"could not read {len(pending)} partitions to their end"
        assert "shuyuan.rep" in topics and "shuyuan.dlq" in topics
        return blobs
    finally:
        consumer.close()


def _database_rows(url: str) -> dict[str, list[str]]:
    """Every row of every table of the gateway database, as JSON text (bytea as hex)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: [row[0] for row in conn.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t'))]
                for table in inspect(conn).get_table_names()
            }
    finally:
        engine.dispose()


def test_no_value_or_identifier_in_any_topic_or_gateway_table(world: World) -> None:
    needles = _unique_subjects(world)
    for dept in ("psb", "hrss", "amr"):
        world.start_connector(dept)
    with TestClient(world.gateway()) as client:
        zjj = world.consumer(client)
        person = zjj.query(
            subject_type="person",
            subject_id=needles["person"],
            elements=PERSON_ELEMENTS,
            service_item=HOUSING_ITEM,
            case_no="ZJJ-SCAN-1",
            on_behalf_of="wang.fang",
        )
        unknown = zjj.query(
            subject_type="person",
            subject_id=needles["unknown"],
            elements=["person.name"],
            service_item=HOUSING_ITEM,
            case_no="ZJJ-SCAN-2",
            on_behalf_of="wang.fang",
        )
        xzsp = world.consumer(client, "xzsp", "xzsp-approval")
        enterprise = xzsp.query(
            subject_type="enterprise",
            subject_id=needles["uscc"],
            elements=ENTERPRISE_ELEMENTS,
            service_item=FOOD_LICENCE_ITEM,
            case_no="XZSP-SCAN-1",
            on_behalf_of="wang.fang",
        )
        # An event about the same enterprise: its payload and identifier travel only inside copies
        # (routing fields are in the clear by design, docs/events.md, so none of them is a needle).
        routing = {"business_scope": "食品销售", "licence_type": "food_business_licence"}
        event = world.events(client, "xzsp").publish(
            type=LICENSE_ISSUED,
            subject_type="enterprise",
            subject_id=needles["uscc"],
            routing=routing,
            payload=routing
            | {
                "licence_no": needles["licence"],
                "enterprise_name": needles["enterprise"],
                "issued_on": "2026-12-01",
            },
        )
        assert len(event["deliveries"]) == 2  # amr and the food-safety office
    # The needles really flowed: the consumers decrypted and verified exactly these values.
    assert person.status == "complete" and enterprise.status == "complete", (person, enterprise)
    values: dict[str, Any] = person.values() | enterprise.values()
    assert values["person.name"] == needles["name"]
    assert values["person.employer_name"] == needles["employer"]
    assert values["person.si_contribution_base"] == pytest.approx(float(needles["base"]))
    assert values["enterprise.legal_representative"] == needles["legal_rep"]
    assert [(r.status, r.reason) for r in unknown.results] == [("not_found", "not_found")]

    forms = {name: _forms(needle) for name, needle in needles.items()}
    records = _kafka_records(world.bootstrap)
    rows = _database_rows(world.database_url)
    assert any(t == "query_record" and len(r) == 3 for t, r in rows.items())  # the three queries' records
    leaks = [
        (name, f"kafka record #{i}")
        for i, blob in enumerate(records)
        for name, variants in forms.items()
        if any(v in blob for v in variants)
    ]
    leaks += [
        (name, f"table {table}")
        for table, table_rows in rows.items()
        for row in table_rows
        for name, variants in forms.items()
        if any(v in row.encode() for v in variants)
    ]
    assert leaks == [], leaks
    print(f"scanned {len(records)} Kafka records and {sum(map(len, rows.values()))} gateway rows")


@pytest.mark.parametrize("prefix", ["", "a", "ab", '{"value":"'])
def test_the_scan_would_see_a_leak_in_any_of_its_forms(prefix: str) -> None:
    """The negative control: each way a value could be stored in the clear is found."""
    needle = "明文泄漏abc123"
    forms = _forms(needle)
    payload = (prefix + needle + '"}').encode()
    leaked = [
        payload,  # raw UTF-8
        json.dumps({"v": prefix + needle}).encode(),  # JSON with \\u escapes (ensure_ascii)
        ("\\x" + payload.hex()).encode(),  # a bytea column rendered by row_to_json
        b"eyJ." + base64.urlsafe_b64encode(payload).rstrip(b"="),  # a signed but unencrypted JWS payload
    ]
    for blob in leaked:
        assert any(form in blob for form in forms), blob
    assert not any(form in base64.urlsafe_b64encode(b"unrelated" * 8) for form in forms)
