"""Audit log throughput: records sealed per second and records verified offline per second.

Measures, on a fresh PostgreSQL database (and on SQLite for the embedded mode):
  * direct sealing: the embedded path's `store.append` (chain + insert + a checkpoint every 1000
    records), in batches as the group-commit writer forms them;
  * Kafka sealing: N audit events published to a fresh topic (acks=all), then the sealer
    (`exchange/audit/sealer.py`, one process, one chain) consuming them into PostgreSQL;
  * export: a complete bundle streamed out of PostgreSQL;
  * offline verification: `shuyuan audit verify`'s code on that bundle (hashes, chain, signatures,
    Merkle roots), no database.

    eval "$(deploy/services.sh env)"
    .venv/bin/python bench/audit_bench.py [--records 100000] [--batch 500] [--json bench/results/audit.json]

The database and topic it creates are removed at exit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from exchange.audit import keys, records, store
from exchange.audit.events import AuditAction, AuditRecord
from exchange.audit.export import ExportFilter, write_bundle
from exchange.audit.sealer import Sealer
from exchange.audit.verify import verify_bundle
from kafkaio.admin import ensure_topics
from protocol.topics import KafkaNames
from registry import db

MIGRATIONS = Path(__file__).resolve().parents[1] / "exchange" / "migrations"
POLICY = store.CheckpointPolicy(every=1000, interval_s=3600)


def body(i: int) -> AuditRecord:
    """A realistic record body: one element decision of a housing-case query."""
    return records.query_step(
        AuditAction.ELEMENT_DECIDED,
        gateway=f"gw-{i % 2}",
        department="zjj",
        system="zjj-housing",
        subject_index=f"{i * 2654435761 % 2**256:064x}",
        elements=["person.si_contribution_base"],
        service_item="330100-GZF-001",
        case_no=f"ZJJ-2026-{i:06d}",
        decision="allow",
        source="hrss",
        request_id=f"q-{i:012d}",
    )


def fresh_engine(url: str) -> Any:
    engine = db.make_engine(url)
    db.upgrade(engine, script_location=MIGRATIONS)
    return engine


def seal_direct(engine: Any, key: keys.AuditKeyPair, n: int, batch: int) -> float:
    """Records per second through store.append (the embedded writer's transaction)."""
    bodies = [body(i) for i in range(n)]
    started = time.perf_counter()
    for i in range(0, n, batch):
        with engine.begin() as conn:
            store.append(conn, bodies[i : i + batch], key=key, policy=POLICY)
    with engine.begin() as conn:
        store.maybe_checkpoint(conn, key=key, policy=POLICY, force=True)
    return n / (time.perf_counter() - started)


def seal_kafka(engine: Any, key: keys.AuditKeyPair, bootstrap: str, n: int) -> tuple[float, float]:
    """(events published per second with acks=all, records sealed per second by the sealer)."""
    names = KafkaNames(f"bench-{uuid.uuid4().hex[:8]}")  # its own audit topic and sealer group
    topic = names.audit_topic
    config = {"bootstrap_servers": bootstrap.split(",")}
    ensure_topics(config, {topic: 1})
    try:
        producer = KafkaProducer(**config, acks="all", enable_idempotence=True, linger_ms=5)
        values = [body(i).model_dump_json().encode() for i in range(n)]
        started = time.perf_counter()
        for v in values:
            producer.send(topic, value=v, key=b"gw-0")
        producer.flush()
        published = n / (time.perf_counter() - started)
        producer.close()
        sealer = Sealer(engine, config, key=key, policy=POLICY, names=names)
        stop = threading.Event()
        thread = threading.Thread(target=sealer.serve, args=(stop,), daemon=True)
        started = time.perf_counter()
        thread.start()
        while sealer.sealed < n:
            time.sleep(0.05)
        sealed = n / (time.perf_counter() - started)
        stop.set()
        thread.join(30)
        return published, sealed
    finally:
        admin = KafkaAdminClient(**config)
        admin.delete_topics([t for t in (topic, names.dlq_topic) if t in admin.list_topics()])
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="records per transaction (group commit)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    pg_url = os.environ.get("SHUYUAN_TEST_DATABASE_URL")
    bootstrap = os.environ.get("SHUYUAN_TEST_KAFKA_BOOTSTRAP")
    if not pg_url or not bootstrap:
        sys.exit('run `eval "$(deploy/services.sh env)"` first (PostgreSQL and Kafka are needed)')
    n = args.records
    tmp = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    key = keys.load_or_create(tmp / "keys")
    name = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    results: dict[str, Any] = {
        "records": n,
        "batch": args.batch,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}_k"'))
    try:
        url = make_url(pg_url)
        pg = fresh_engine(url.set(database=name).render_as_string(hide_password=False))
        results["seal_direct_postgres_per_s"] = round(seal_direct(pg, key, n, args.batch))
        print(f"sealed (direct, PostgreSQL):  {results['seal_direct_postgres_per_s']:>9,} records/s")
        lite = fresh_engine(f"sqlite:///{tmp / 'audit.db'}")
        results["seal_direct_sqlite_per_s"] = round(seal_direct(lite, key, n, args.batch))
        print(f"sealed (direct, SQLite):      {results['seal_direct_sqlite_per_s']:>9,} records/s")
        pgk = fresh_engine(url.set(database=f"{name}_k").render_as_string(hide_password=False))
        published, sealed = seal_kafka(pgk, key, bootstrap, n)
        results["publish_kafka_per_s"], results["seal_kafka_postgres_per_s"] = round(published), round(sealed)
        print(f"published (Kafka, acks=all):  {results['publish_kafka_per_s']:>9,} events/s")
        print(f"sealed (sealer, PostgreSQL):  {results['seal_kafka_postgres_per_s']:>9,} records/s")
        bundle = tmp / "bundle.zip"
        started = time.perf_counter()
        write_bundle(pg, ExportFilter(), bundle)
        results["export_per_s"] = round(n / (time.perf_counter() - started))
        results["bundle_bytes"] = bundle.stat().st_size
        size = results["bundle_bytes"]
        print(f"exported (PostgreSQL):        {results['export_per_s']:>9,} records/s ({size:,} bytes)")
        started = time.perf_counter()
        report = verify_bundle(bundle, pinned=keys.PinnedKeys.of(key.public))
        results["verify_per_s"] = round(n / (time.perf_counter() - started))
        assert report.ok and report.records == n, report.problem
        print(f"verified offline:             {results['verify_per_s']:>9,} records/s")
        for e in (pg, lite, pgk):
            e.dispose()
    finally:
        with admin.connect() as conn:
            for db_name in (name, f"{name}_k"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
