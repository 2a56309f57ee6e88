"""The embedded audit path: group commit into the chain, fail closed, and a denial recorded once back."""

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from exchange.audit import keys, store
from exchange.audit import records as factories
from exchange.audit.events import AuditAction, AuditRecord
from exchange.audit.export import ExportFilter, write_bundle
from exchange.audit.verify import verify_bundle
from exchange.audit.writer import AuditUnavailable, AuditWriter, IdempotentInsert
from exchange.queries.models import idempotency_record
from registry import db
from tests.auditkit import pins

EXCHANGE_MIGRATIONS = Path(__file__).resolve().parents[2] / "exchange" / "migrations"


def run_isolated(coro: Any) -> Any:
    """asyncio.run in a thread of its own: a session fixture (Playwright's) may hold this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def row(action: str, query_id: str, **fields: Any) -> AuditRecord:
    """An audit record as QueryContext.record builds it."""
    return factories.query_step(
        AuditAction(action),
        gateway="gw-0",
        department="zjj",
        subject_index="cd" * 32,
        service_item="330100-GZF-001",
        case_no="CASE-1",
        request_id=query_id,
        elements=["person.name"],
        **fields,
    )


def query_record(query_id: str) -> IdempotentInsert:
    return idempotency_record(
        consumer="zjj", query_id=query_id, request_digest="0" * 64, response_sealed=b"x"
    )


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    return engine


def records(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [store.record_from_row(r) for r in conn.execute(select(store.E).order_by(store.E.seq))]


def test_concurrent_writes_share_transactions_and_form_one_chain(engine: Engine, tmp_path: Path) -> None:
    key = keys.load_or_create(tmp_path / "k")

    async def run() -> None:
        writer = AuditWriter(engine, key=key, policy=store.CheckpointPolicy(every=25, interval_s=60))
        await writer.start()
        await asyncio.gather(
            *(
                writer.write(
                    [row("query.received", f"q-{i:08d}"), row("query.released", f"q-{i:08d}")],
                    query_record(f"q-{i:08d}"),
                )
                for i in range(60)
            )
        )
        await writer.stop()

    run_isolated(run())
    got = records(engine)
    assert [r["seq"] for r in got] == list(range(1, 121))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(got))
    assert got[0]["elements"] == ["person.name"] and got[0]["actor_department"] == "zjj"
    # Each query's two records are adjacent: a query's rows are appended together.
    assert all(got[i]["request_id"] == got[i + 1]["request_id"] for i in range(0, 120, 2))
    report = verify_bundle(_export(engine, tmp_path), pinned=pins(tmp_path / "k"))
    assert report.ok and report.records == 120, report.problem


def _export(engine: Engine, tmp_path: Path) -> Path:
    path = tmp_path / "bundle.zip"
    write_bundle(engine, ExportFilter(), path)
    return path


def test_audit_store_down_fails_closed_and_the_denial_is_recorded_once_back(
    engine: Engine, tmp_path: Path
) -> None:
    key = keys.load_or_create(tmp_path / "k")

    async def run() -> None:
        writer = AuditWriter(engine, key=key, policy=store.CheckpointPolicy(every=1000, interval_s=0.2))
        await writer.start()
        await writer.write([row("query.received", "q-ok-00001")], query_record("q-ok-00001"))
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_entry RENAME TO audit_entry_away"))
        with pytest.raises(AuditUnavailable):
            await writer.write(
                [row("query.received", "q-lost-0001"), row("source.answered", "q-lost-0001", source="psb")],
                query_record("q-lost-0001"),
            )
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_entry_away RENAME TO audit_entry"))
        await asyncio.sleep(0.8)  # a few ticks: the backlog is retried
        await writer.stop()

    run_isolated(run())
    got = records(engine)
    actions = [(r["request_id"], r["action"], r["reason"]) for r in got]
    assert actions == [
        ("q-ok-00001", "query.received", None),
        ("q-lost-0001", "query.received", None),
        ("q-lost-0001", "source.answered", None),
        ("q-lost-0001", "query.denied", "audit_unavailable"),
    ]
    assert got[-1]["decision"] == "deny" and got[-1]["elements"] == ["person.name"]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT query_id FROM query_record ORDER BY query_id")).scalars().all()
    assert stored == ["q-ok-00001"]  # nothing of the failed query was half-written
    assert verify_bundle(_export(engine, tmp_path), pinned=pins(tmp_path / "k")).ok


def test_a_stopped_writer_refuses_and_a_record_only_writer_takes_no_audit_rows(
    engine: Engine, tmp_path: Path
) -> None:
    async def run() -> None:
        writer = AuditWriter(engine, key=keys.load_or_create(tmp_path / "k"))
        with pytest.raises(AuditUnavailable):
            await writer.write([row("query.received", "q-00000001")])
        plain = AuditWriter(engine, key=None)
        await plain.start()
        with pytest.raises(AuditUnavailable):
            await plain.write([row("query.received", "q-00000002")])
        await plain.write([], query_record("q-00000003"))
        await plain.stop()

    run_isolated(run())
    assert records(engine) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT query_id FROM query_record")).scalars().all() == ["q-00000003"]


def test_a_time_based_checkpoint_seals_a_quiet_log(engine: Engine, tmp_path: Path) -> None:
    async def run() -> None:
        writer = AuditWriter(
            engine,
            key=keys.load_or_create(tmp_path / "k"),
            policy=store.CheckpointPolicy(every=1000, interval_s=0.2),
        )
        await writer.start()
        await writer.write([row("query.received", "q-00000001")])
        await asyncio.sleep(0.7)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT last_seq FROM audit_checkpoint")).scalars().all() == [1]
        await writer.stop()

    run_isolated(run())
