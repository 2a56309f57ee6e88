"""Bundles and the witness: what an export ships and what `verify` requires with a pinned witness."""

import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from exchange.audit import bundle, keys, store
from exchange.audit.archive import archive
from exchange.audit.export import ExportFilter, write_bundle
from exchange.audit.settings import AuditSettings
from exchange.audit.verify import WitnessCheck, verify_bundle, verify_chain_of_bundles
from exchange.audit.witness import Witness, load_or_create_key
from protocol.clock import utcnow
from registry import db
from tests.auditkit import DbLog, denials, pins

EXCHANGE_MIGRATIONS = Path(__file__).resolve().parents[3] / "exchange" / "migrations"
POLICY = store.CheckpointPolicy(every=10, interval_s=10**6)


def grow(engine: Engine, key: keys.AuditKeyPair, start: int, count: int) -> None:
    for i in range(start, start + count, 5):
        with engine.begin() as conn:
            store.append(conn, denials(range(i, i + 5)), key=key, policy=POLICY)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Engine, keys.AuditKeyPair, Witness]:
    """A log of 30 records (a checkpoint every 10) and its witness, which has not run yet."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    key = keys.load_or_create(tmp_path / "sealer-keys")
    grow(engine, key, 0, 30)
    witness = Witness(
        log=DbLog(engine),
        key=load_or_create_key(tmp_path / "witness" / "key.pem"),
        state_path=tmp_path / "witness" / "state.json",
        audit_keys=pins(tmp_path / "sealer-keys"),
    )
    return engine, key, witness


def check(witness: Witness) -> WitnessCheck:
    return WitnessCheck(keys.PinnedKeys.of(witness.public), json.loads(witness.state_path.read_text()))


def test_a_witnessed_complete_bundle_verifies_and_names_the_witness(
    setup: tuple[Engine, keys.AuditKeyPair, Witness], tmp_path: Path
) -> None:
    engine, _, witness = setup
    witness.once()
    path = tmp_path / "b.zip"
    write_bundle(engine, ExportFilter(), path)
    report = verify_bundle(path, pinned=pins(tmp_path / "sealer-keys"), witness=check(witness))
    assert report.ok, report.problem
    assert report.witnessed == f"tree size 30 co-signed by {keys.fingerprint(witness.public)}"
    assert sorted(report.tree_roots) == [10, 20, 30]
    with zipfile.ZipFile(path) as z:
        cps = [json.loads(line) for line in z.read(bundle.CHECKPOINTS).decode().splitlines()]
    assert [len(c["cosignatures"]) for c in cps] == [0, 0, 1]
    # Without witness options the verifier behaves as before.
    assert verify_bundle(path, pinned=pins(tmp_path / "sealer-keys")).ok


def test_checkpoints_newer_than_the_witnesss_round_wait_for_it_or_are_left_out(
    setup: tuple[Engine, keys.AuditKeyPair, Witness], tmp_path: Path
) -> None:
    engine, key, witness = setup
    witness.once()
    grow(engine, key, 30, 10)  # a checkpoint at 40 the witness has not seen yet
    pinned = pins(tmp_path / "sealer-keys")
    everything = tmp_path / "all.zip"
    write_bundle(engine, ExportFilter(), everything)
    report = verify_bundle(everything, pinned=pinned, witness=check(witness))
    assert not report.ok and report.broken_seq == 31 and "not witnessed (yet" in (report.problem or "")
    witnessed = tmp_path / "witnessed.zip"
    manifest = write_bundle(engine, ExportFilter(witnessed=True), witnessed)
    assert manifest["last_seq"] == 30 and manifest["filter"] == {"witnessed": True}
    assert verify_bundle(witnessed, pinned=pinned, witness=check(witness)).ok
    witness.once()
    write_bundle(engine, ExportFilter(), everything)  # exported again, with the new co-signature
    assert verify_bundle(everything, pinned=pinned, witness=check(witness)).ok


def test_an_older_range_is_proved_consistent_with_the_newer_co_signed_tree(
    setup: tuple[Engine, keys.AuditKeyPair, Witness], tmp_path: Path
) -> None:
    engine, key, witness = setup
    witness.once()
    grow(engine, key, 30, 20)
    witness.once()  # now at 50
    pinned = pins(tmp_path / "sealer-keys")
    for f in (ExportFilter(seq_to=20), ExportFilter(seq_from=11, seq_to=30), ExportFilter(seq_from=21)):
        path = tmp_path / "range.zip"
        write_bundle(engine, f, path)
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
        assert (bundle.WITNESS in names) == (f.seq_to is not None), f
        assert (bundle.FRONTIER in names) == (f.seq_from is not None), f
        report = verify_bundle(path, pinned=pinned, witness=check(witness))
        assert report.ok, (f, report.problem)
        assert report.witnessed is not None and "tree size 50" in report.witnessed
    filtered = tmp_path / "filtered.zip"
    write_bundle(engine, ExportFilter(department="zjj", seq_to=20), filtered)
    report = verify_bundle(filtered, pinned=pinned, witness=check(witness))
    assert report.ok and report.witnessed is not None, report.problem


def test_a_tampered_frontier_or_tip_proof_is_refused(
    setup: tuple[Engine, keys.AuditKeyPair, Witness], tmp_path: Path
) -> None:
    engine, key, witness = setup
    witness.once()
    grow(engine, key, 30, 20)
    witness.once()
    path = tmp_path / "range.zip"
    write_bundle(engine, ExportFilter(seq_from=11, seq_to=30), path)
    pinned = pins(tmp_path / "sealer-keys")
    for name, change in (
        (bundle.FRONTIER, lambda d: {**d, "nodes": ["00" * 32, *d["nodes"][1:]]}),
        (bundle.WITNESS, lambda d: {**d, "consistency": {**d["consistency"], "proof": ["00" * 32]}}),
    ):
        bad = tmp_path / f"bad-{name}.zip"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
            for n in src.namelist():
                data = src.read(n)
                dst.writestr(n, json.dumps(change(json.loads(data))) if n == name else data)
        report = verify_bundle(bad, pinned=pinned, witness=check(witness))
        assert not report.ok, name
        assert "tree root" in (report.problem or "") or "consistent" in (report.problem or ""), report.problem


def test_the_tree_continues_across_an_archive(
    setup: tuple[Engine, keys.AuditKeyPair, Witness], tmp_path: Path
) -> None:
    engine, key, witness = setup
    settings = AuditSettings(key_dir=tmp_path / "sealer-keys", archive_dir=tmp_path / "archive")
    done = archive(engine, settings=settings, now=utcnow() + timedelta(days=200))
    assert done is not None and (done.first_seq, done.last_seq) == (1, 30)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT frontier FROM audit_archive")).scalar()
    grow(engine, key, 30, 20)
    witness.once()  # the witness first sees the log at 50, 30 of them archived
    online = tmp_path / "online.zip"
    write_bundle(engine, ExportFilter(), online)
    pinned = pins(tmp_path / "sealer-keys")
    report = verify_bundle(online, pinned=pinned, witness=check(witness))
    assert report.ok and report.first_seq == 31 and 50 in report.tree_roots, report.problem
    chain = verify_chain_of_bundles([done.path, online], pinned=pinned, witness=check(witness))
    assert all(r.ok for r in chain), [r.problem for r in chain]
