"""The a5_0001 migration chains audit rows written before the chain existed, and can be undone."""

from pathlib import Path

from sqlalchemy import Engine, text

from exchange.audit.export import ExportFilter, write_bundle
from exchange.audit.verify import verify_bundle
from registry import db
from tests.auditkit import pins

EXCHANGE_MIGRATIONS = Path(__file__).resolve().parents[2] / "exchange" / "migrations"


def chain_legacy_rows(engine: Engine, tmp_path: Path) -> None:
    """Upgrade a gateway database holding pre-chain rows, then check the chain it built."""
    db.upgrade(engine, revision="g0001", script_location=EXCHANGE_MIGRATIONS)
    with engine.begin() as conn:
        for i, action in enumerate(("query.received", "element.decided", "query.released")):
            conn.execute(
                text(
                    "INSERT INTO audit_entry (time, gateway, actor, action, elements, query_id) "
                    "VALUES (:t, 'gw-0', 'zjj', :a, '[\"person.name\"]', 'q-legacy-1')"
                ),
                {"t": f"2026-11-0{i + 1} 08:00:00.000001+00:00", "a": action},
            )
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, action, prev_hash, hash FROM audit_entry ORDER BY seq")).all()
        head = conn.execute(text("SELECT seq, hash FROM audit_chain_head")).one()
    assert [(r.seq, r.action) for r in rows] == [
        (1, "query.received"),
        (2, "element.decided"),
        (3, "query.released"),
    ]
    assert rows[0].prev_hash == "0" * 64 and rows[1].prev_hash == rows[0].hash
    assert (head.seq, head.hash) == (3, rows[2].hash)
    from exchange.audit import keys, store

    with engine.begin() as conn:
        store.maybe_checkpoint(
            conn, key=keys.load_or_create(tmp_path / "k"), policy=store.CheckpointPolicy(), force=True
        )
    path = tmp_path / "legacy.zip"
    write_bundle(engine, ExportFilter(), path)
    assert verify_bundle(path, pinned=pins(tmp_path / "k")).ok
    db.downgrade(engine, "g0001", script_location=EXCHANGE_MIGRATIONS)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_entry")).scalar() == 3


def test_legacy_rows_are_chained_on_sqlite(tmp_path: Path) -> None:
    chain_legacy_rows(db.make_engine(f"sqlite:///{tmp_path / 'gw.db'}"), tmp_path)
