"""The audit sealer survives consumer-group rebalances on the real broker: a second sealer joining and
leaving mid-stream costs no event and stops nobody (the bug: one sealer exited on
RebalanceInProgressError from an offset commit and sealed 9 of 25,722 events)."""

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from sqlalchemy import Engine, func, select

from exchange.audit import keys, records, store
from exchange.audit.events import AuditAction
from exchange.audit.sealer import Sealer
from exchange.db import MIGRATIONS as EXCHANGE_MIGRATIONS
from kafkaio.admin import ensure_topics
from protocol.topics import KafkaNames
from registry import db

pytestmark = pytest.mark.integration


def _event(i: int) -> bytes:
    return (
        records.query_step(
            AuditAction.QUERY_RECEIVED,
            gateway="gw-r",
            department="zjj",
            subject_index="cd" * 32,
            service_item="330100-GZF-001",
            case_no="CASE-R",
            request_id=f"q-r-{i:05d}",
            elements=[],
        )
        .model_dump_json()
        .encode()
    )


def _sealed(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(func.count(store.E.seq))).scalar_one()
        distinct = conn.execute(select(func.count(func.distinct(store.E.request_id)))).scalar_one()
    return rows, distinct


class GatedSealer(Sealer):
    """A sealer whose first non-empty batch waits at a gate: a slow database write, say."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def _seal(self, messages: list[Any], dlq: Any) -> None:
        if messages and not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(60)
        super()._seal(messages, dlq)


class SealerThread:
    def __init__(
        self,
        engine: Engine,
        bootstrap: str,
        names: KafkaNames,
        key_dir: Path,
        *,
        kind: type[Sealer] = Sealer,
        wait_ready: bool = True,
        max_poll_interval_ms: int = 300_000,
    ) -> None:
        self.sealer = kind(
            engine,
            {"bootstrap_servers": bootstrap.split(",")},
            key=keys.load_or_create(key_dir),
            policy=store.CheckpointPolicy(every=50, interval_s=0.5),
            names=names,
            partitions=3,
            max_records=20,  # small batches: many commits, so some land inside the rebalances
            max_poll_interval_ms=max_poll_interval_ms,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sealer.serve, args=(self.stop,), daemon=True)
        self.thread.start()
        if wait_ready:
            assert self.sealer.ready.wait(60), "the sealer did not join its group"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


def test_a_second_sealer_joining_and_leaving_loses_nothing_and_stops_nobody(
    pg_database: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    engine = db.make_engine(pg_database)
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    names = KafkaNames(f"r{uuid.uuid4().hex[:10]}")  # this test's own audit topic and sealer group
    topic = names.audit_topic
    config = {"bootstrap_servers": kafka_bootstrap.split(",")}
    ensure_topics(config, {topic: 3})
    producer = KafkaProducer(**config, acks="all", enable_idempotence=True, linger_ms=2)
    total = 1500
    first = SealerThread(engine, kafka_bootstrap, names, tmp_path / "k")
    second: SealerThread | None = None
    try:
        for i in range(total):
            producer.send(topic, value=_event(i), key=f"k{i % 7}".encode())
            if i == 300:
                second = SealerThread(engine, kafka_bootstrap, names, tmp_path / "k")  # rebalance
            if i == 900 and second is not None:
                second.close()  # and another one
            if i % 50 == 0:
                time.sleep(0.02)  # a steady stream, so commits keep happening across both rebalances
        producer.flush(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _sealed(engine)[1] < total:
            time.sleep(0.2)
        rows, distinct = _sealed(engine)
        assert (rows, distinct) == (total, total), "every event sealed exactly once"
        assert first.thread.is_alive(), "the first sealer survived both rebalances"
    finally:
        producer.close(5)
        first.close()
        if second is not None:
            second.close()
        engine.dispose()
    assert not first.thread.is_alive()


def test_a_commit_that_lands_inside_a_rebalance_does_not_stop_the_sealer(
    pg_database: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    # The sealer is busy with one batch for longer than the group's rebalance timeout while a second
    # member joins: the group rebalances without it, so its commit of that batch is refused
    # (CommitFailedError: the generation moved on). Before the fix that exception ended the sealer.
    engine = db.make_engine(pg_database)
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    names = KafkaNames(f"g{uuid.uuid4().hex[:10]}")  # this test's own audit topic and sealer group
    topic = names.audit_topic
    config = {"bootstrap_servers": kafka_bootstrap.split(",")}
    ensure_topics(config, {topic: 3})
    producer = KafkaProducer(**config, acks="all", enable_idempotence=True)
    total = 400
    for i in range(total // 2):
        producer.send(topic, value=_event(i), key=f"k{i % 7}".encode())
    producer.flush(30)
    first = SealerThread(
        engine, kafka_bootstrap, names, tmp_path / "k", kind=GatedSealer, max_poll_interval_ms=4000
    )
    gated = first.sealer
    assert isinstance(gated, GatedSealer)
    second: SealerThread | None = None
    try:
        assert gated.entered.wait(30), "the first sealer never got a batch"
        second = SealerThread(
            engine, kafka_bootstrap, names, tmp_path / "k", wait_ready=False, max_poll_interval_ms=4000
        )
        assert second.sealer.ready.wait(30), "the group rebalanced without the busy member"
        gated.gate.set()
        for i in range(total // 2, total):
            producer.send(topic, value=_event(i), key=f"k{i % 7}".encode())
        producer.flush(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _sealed(engine)[1] < total:
            time.sleep(0.2)
        assert _sealed(engine) == (total, total), "every event sealed exactly once"
        assert first.thread.is_alive(), "the sealer whose commit was refused is still serving"
        assert gated.commits.failures >= 1, "the refused commit was seen (and retried)"
        assert second.thread.is_alive()
    finally:
        producer.close(5)
        gated.gate.set()
        first.close()
        if second is not None:
            second.close()
        engine.dispose()
