"""The Kafka audit path on the real broker and PostgreSQL: publish with acks=all, seal into one chain,
fail closed when the audit path is down, and record the denial once it is back."""

import asyncio
import json
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from sqlalchemy import Engine, select, text

from exchange.audit import bundle, keys, records, store
from exchange.audit import publisher as publisher_module
from exchange.audit.events import BODY_FIELDS, AuditAction, AuditEvent, AuditRecord
from exchange.audit.export import ExportFilter, write_bundle
from exchange.audit.publisher import AuditPublisher
from exchange.audit.sealer import Sealer
from exchange.audit.settings import AuditSettings
from exchange.audit.verify import verify_bundle
from exchange.audit.writer import AuditUnavailable, AuditWriter
from kafkaio.admin import ensure_topics
from protocol.topics import KafkaNames
from registry import db
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.auditkit import pins
from tests.authkit import authorize, now_iso
from tests.integration.conftest import World

pytestmark = pytest.mark.integration
EXCHANGE_MIGRATIONS = Path(__file__).resolve().parents[2] / "exchange" / "migrations"


def run_isolated(coro: Any) -> Any:
    """asyncio.run in a thread of its own: a session fixture (Playwright's) may hold this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def own_names() -> KafkaNames:
    """A namespace of this test's own: its audit topic and sealer group touch no other test's events."""
    return KafkaNames(f"t{uuid.uuid4().hex[:10]}")


def audit_settings(tmp_path: Path, **extra: Any) -> AuditSettings:
    """Audit settings of the Kafka path, checkpointing often."""
    values: dict[str, Any] = {
        "path": "kafka",
        "key_dir": tmp_path / "audit-keys",
        "delivery_timeout_s": 3.0,
        "checkpoint_every": 5,
        "checkpoint_interval_s": 0.5,
    }
    return AuditSettings(**(values | extra))


class RunningSealer:
    """A sealer thread on the real broker and database."""

    def __init__(self, engine: Engine, bootstrap: str, settings: AuditSettings, names: KafkaNames) -> None:
        self.sealer = Sealer(
            engine,
            {"bootstrap_servers": bootstrap.split(",")},
            key=keys.load_or_create(settings.key_dir),
            policy=store.CheckpointPolicy(every=5, interval_s=0.5),
            names=names,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sealer.serve, args=(self.stop,), daemon=True)
        self.thread.start()
        assert self.sealer.ready.wait(60), "the sealer did not join its group"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail("condition not reached in time")


def actions(engine: Engine) -> list[tuple[str | None, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(store.E.request_id, store.E.action, store.E.reason).order_by(store.E.seq))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def row(gateway: str, query_id: str, action: str) -> AuditRecord:
    return records.query_step(
        AuditAction(action),
        gateway=gateway,
        department="zjj",
        subject_index="ab" * 32,
        service_item="330100-GZF-001",
        case_no="CASE-1",
        request_id=query_id,
        elements=[],
    )


def test_two_gateways_publish_and_one_sealer_keeps_one_chain(
    pg_database: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    engine = db.make_engine(pg_database)
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    settings, names = audit_settings(tmp_path), own_names()
    config = {"bootstrap_servers": kafka_bootstrap.split(",")}

    async def publish() -> None:
        publishers = [
            AuditPublisher(config, AuditWriter(engine, key=None), topic=names.audit_topic, gateway_id=gw)
            for gw in ("gw-a", "gw-b")
        ]
        for p in publishers:
            await p.start()
        await asyncio.gather(
            *(
                p.write(
                    [
                        row(gw, f"q-{gw}-{i:04d}", "query.received"),
                        row(gw, f"q-{gw}-{i:04d}", "query.released"),
                    ]
                )
                for p, gw in zip(publishers, ("gw-a", "gw-b"), strict=True)
                for i in range(40)
            )
        )
        for p in publishers:
            await p.stop()

    run_isolated(publish())
    sealer = RunningSealer(engine, kafka_bootstrap, settings, names)
    try:
        wait_for(lambda: len(actions(engine)) == 160)
    finally:
        sealer.close()
    got = actions(engine)
    # One gateway's events keep their order (one partition key per gateway): received before released.
    for gw in ("gw-a", "gw-b"):
        for i in range(40):
            qid = f"q-{gw}-{i:04d}"
            assert got.index((qid, "query.received", None)) < got.index((qid, "query.released", None))
    # A redelivered event (same event id) is chained once: the sealer dedupes.
    with engine.connect() as conn:
        one = store.record_from_row(conn.execute(select(store.E).where(store.E.seq == 1)).one())
    redelivered = AuditEvent.model_validate({k: v for k, v in one.items() if k in BODY_FIELDS})
    with engine.begin() as conn:
        again = store.append(
            conn, [redelivered], key=keys.load_or_create(settings.key_dir), policy=store.CheckpointPolicy()
        )
    assert again == [] and len(actions(engine)) == 160
    path = tmp_path / "bundle.zip"
    write_bundle(engine, ExportFilter(), path)
    report = verify_bundle(path, pinned=pins(settings.key_dir))
    assert report.ok and report.records == 160, report.problem
    engine.dispose()


def query(world: World, client: TestClient, elements: list[str]) -> Any:
    body = {
        "query_id": f"fc-{uuid.uuid4().hex}",
        "subject": {"type": "person", "id": world.subjects.demo_person},
        "elements": elements,
        "purpose": {"service_item": HOUSING_ITEM, "case_no": "ZJJ-2026-FC-001"},
        "on_behalf_of": "wang.fang",
        "requested_at": now_iso(),
    }
    return body["query_id"], client.post("/v1/queries", json=body)


def test_queries_fail_closed_while_the_audit_topic_is_gone_and_the_denial_is_sealed_after(
    world: World, tmp_path: Path
) -> None:
    world.names = own_names()
    topic = world.names.audit_topic
    settings = audit_settings(tmp_path)
    config = {"bootstrap_servers": world.bootstrap.split(",")}
    world.start_connector("psb")
    engine = db.make_engine(world.database_url)
    admin = KafkaAdminClient(**config)
    try:
        with TestClient(world.gateway(audit=settings)) as client:
            authorize(client, department=world.dept("zjj"))
            ok_id, ok = query(world, client, ["person.name"])
            assert ok.status_code == 200, ok.text

            # The path goes down: this test's own audit topic is deleted (the shared broker keeps running).
            admin.delete_topics([topic])
            wait_for(lambda: topic not in admin.list_topics())
            denied_id, denied = query(world, client, ["person.name"])
            assert denied.status_code == 503, denied.text
            problem = denied.json()
            assert problem["reason"] == "audit_unavailable"
            assert "results" not in problem and world.subjects.demo_person not in denied.text
            # Fail fast: the path is known to be down, so the next query is refused at once, and the
            # gateway says it is not ready (a load balancer takes it out of rotation).
            t0 = time.monotonic()
            fast_id, fast = query(world, client, ["person.name"])
            assert fast.status_code == 503 and fast.json()["reason"] == "audit_unavailable"
            assert time.monotonic() - t0 < 1.0
            ready = client.get("/readyz")
            assert ready.status_code == 503 and not ready.json()["checks"]["audit"]["ok"], ready.text

            # The path comes back; the gateway publishes the held-back events, the sealer chains them.
            ensure_topics(config, {topic: 1})
            sealer = RunningSealer(engine, world.bootstrap, settings, world.names)
            try:
                wait_for(lambda: (denied_id, "query.denied", "audit_unavailable") in actions(engine), 60)
                wait_for(lambda: (fast_id, "query.denied", "audit_unavailable") in actions(engine), 30)
                # ... and recovers by itself: ready again, and queries are answered.
                wait_for(lambda: client.get("/readyz").status_code == 200, 30)
                _, again = query(world, client, ["person.name"])
                assert again.status_code == 200, again.text
            finally:
                sealer.close()
    finally:
        admin.close()
    got = actions(engine)
    assert got.count((denied_id, "query.denied", "audit_unavailable")) == 1
    assert got.count((fast_id, "query.denied", "audit_unavailable")) == 1
    # What happened before the refusal is on the record too: received, decided, and the dispatch
    # written ahead; its write failed, so the request never left (no answer, no release).
    steps = [a for q, a, _ in got if q == denied_id]
    assert steps[:2] == ["query.received", "element.decided"] and steps[-1] == "query.denied"
    assert "source.dispatched" in steps
    assert "source.answered" not in steps and "query.released" not in steps
    assert all(q != ok_id for q, _, _ in got)  # published before the topic was deleted: gone with it
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT query_id FROM query_record")).scalars())
    assert ok_id in stored and denied_id not in stored  # no idempotency record for the refused query
    assert fast_id not in stored
    path = tmp_path / "bundle.zip"
    write_bundle(engine, ExportFilter(), path)
    assert verify_bundle(path, pinned=pins(settings.key_dir)).ok
    with zipfile.ZipFile(path) as z:
        assert world.subjects.demo_person not in z.read(bundle.RECORDS).decode()
    engine.dispose()


def _topic_configs_once_applied(admin: KafkaAdminClient, topic: str, key: str) -> dict[str, Any]:
    """The topic's modified configs once `key` is among them (KRaft: the controller has committed the
    change when AlterConfigs answers, the broker applies it from the metadata log a moment later)."""
    deadline = time.monotonic() + 10
    while True:
        got: dict[str, Any] = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])[
            "topic"
        ][topic]
        if key in got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_the_audit_topic_keeps_events_for_the_retention_the_operator_set(
    world: World, tmp_path: Path
) -> None:
    world.names = own_names()
    topic = world.names.audit_topic
    config = {"bootstrap_servers": world.bootstrap.split(",")}
    # A topic made by an older release (the broker's default 24 h) is converged at gateway start.
    ensure_topics(config, {topic: 1})
    settings = audit_settings(tmp_path, topic_retention_hours=240)
    admin = KafkaAdminClient(**config)
    try:
        with TestClient(world.gateway(audit=settings)) as client:
            got = _topic_configs_once_applied(admin, topic, "retention.ms")
            assert got["retention.ms"]["value"] == str(240 * 3600 * 1000)
            assert got["retention.bytes"]["value"] == "-1"
            # Nothing seals this topic: the query's events count as sealer lag in readiness.
            world.start_connector("psb")
            authorize(client, department=world.dept("zjj"))
            assert query(world, client, ["person.name"])[1].status_code == 200
            ready = client.get("/readyz").json()
            assert ready["checks"]["sealer_lag"]["ok"], ready
        with TestClient(world.gateway(audit=settings.model_copy(update={"sealer_max_lag": 1}))) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503 and not ready.json()["checks"]["sealer_lag"]["ok"], ready.text
            assert ready.json()["checks"]["database"]["ok"] and ready.json()["checks"]["audit"]["ok"]
    finally:
        admin.delete_topics([topic])
        admin.close()


def test_an_unreachable_audit_broker_denies_every_query(world: World, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path, kafka_bootstrap="127.0.0.1:1", delivery_timeout_s=1.0)
    with TestClient(world.gateway(audit=settings)) as client:
        authorize(client, department=world.dept("zjj"))
        _, response = query(world, client, ["person.name"])
    assert response.status_code == 503 and response.json()["reason"] == "audit_unavailable"


def test_a_publisher_without_a_broker_raises_audit_unavailable(tmp_path: Path) -> None:
    async def run() -> None:
        engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
        db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
        p = AuditPublisher(
            {"bootstrap_servers": ["127.0.0.1:1"]}, AuditWriter(engine, key=None), topic="t", gateway_id="gw",
            delivery_timeout_s=1.0,
        )  # fmt: skip
        await p.start()
        assert not p.health().ok
        t0 = time.monotonic()
        with pytest.raises(AuditUnavailable):
            await p.write([row("gw", "q-00000001", "query.received")])
        # Fail fast: no broker was ever reached, so nothing waits for a delivery timeout.
        assert time.monotonic() - t0 < 0.5
        assert p.health().backlog == 2  # the query's event and its denial, kept for the retry
        await p.stop()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM query_record")).scalar() == 0

    run_isolated(run())


def test_a_long_outage_backlog_is_delivered_in_chunks_and_the_path_comes_back(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A backlog bigger than one delivery may carry (here 3 events a chunk) must still drain.
    monkeypatch.setattr(publisher_module, "BACKLOG_CHUNK", 3)
    topic = own_names().audit_topic
    config = {"bootstrap_servers": kafka_bootstrap.split(",")}

    async def run() -> list[str]:
        engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
        db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
        p = AuditPublisher(
            config, AuditWriter(engine, key=None), topic=topic, gateway_id="gw", delivery_timeout_s=2.0
        )
        await p.start()
        admin = KafkaAdminClient(**config)
        try:
            admin.delete_topics([topic])
            while topic in admin.list_topics():
                await asyncio.sleep(0.2)
            sent = [row("gw", f"q-{i:08d}", "query.received") for i in range(6)]
            for record in sent:  # the first waits out the delivery, the rest are refused at once
                with pytest.raises(AuditUnavailable):
                    await p.write([record])
            assert p.health().backlog == 12  # six events and six denials
            ensure_topics(config, {topic: 1})
            deadline = time.monotonic() + 60
            while (p.health().backlog or not p.health().ok) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert p.health().ok and p.health().backlog == 0
            return [r.event_id for r in sent]
        finally:
            admin.close()
            await p.stop()

    expected = run_isolated(run())
    consumer = KafkaConsumer(
        topic, **config, group_id=None, auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    on_topic = {json.loads(m.value)["event_id"] for m in consumer}
    consumer.close()
    assert set(expected) <= on_topic and len(on_topic) == 12


def test_the_sealer_rereads_a_batch_the_database_refused(
    pg_database: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    engine = db.make_engine(pg_database)
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    settings, names = audit_settings(tmp_path), own_names()
    config = {"bootstrap_servers": kafka_bootstrap.split(",")}

    async def publish() -> None:
        p = AuditPublisher(config, AuditWriter(engine, key=None), topic=names.audit_topic, gateway_id="gw-a")
        await p.start()
        await p.write([row("gw-a", f"q-db-{i:04d}", "query.received") for i in range(10)])
        await p.stop()

    run_isolated(publish())
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_entry RENAME TO audit_entry_away"))
    sealer = RunningSealer(engine, kafka_bootstrap, settings, names)
    try:
        time.sleep(2)  # the sealer reads the batch and fails to write it, more than once
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_entry_away RENAME TO audit_entry"))
        wait_for(lambda: len(actions(engine)) == 10)
    finally:
        sealer.close()
    assert [q for q, _, _ in actions(engine)] == [f"q-db-{i:04d}" for i in range(10)]
    engine.dispose()


def test_legacy_rows_are_chained_on_postgres(pg_database: str, tmp_path: Path) -> None:
    from tests.exchange.test_audit_migration import chain_legacy_rows

    engine = db.make_engine(pg_database)
    chain_legacy_rows(engine, tmp_path)
    engine.dispose()
