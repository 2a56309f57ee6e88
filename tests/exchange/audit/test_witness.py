"""The witness's logic against a log in SQLite (no HTTP, no services): what it signs and what it refuses."""

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from exchange.audit import cosignature, keys, store
from exchange.audit.cosignature import WitnessProblem
from exchange.audit.witness import Witness, WitnessRefused, load_or_create_key, load_state, public_path
from registry import db
from tests.auditkit import DbLog, denials, pins, resign_history, truncate

EXCHANGE_MIGRATIONS = Path(__file__).resolve().parents[3] / "exchange" / "migrations"
POLICY = store.CheckpointPolicy(every=10, interval_s=10**6)


def grow(engine: Engine, key: keys.AuditKeyPair, start: int, count: int) -> None:
    for i in range(start, start + count, 5):
        with engine.begin() as conn:
            store.append(conn, denials(range(i, i + 5)), key=key, policy=POLICY)


@pytest.fixture
def audit_key(tmp_path: Path) -> keys.AuditKeyPair:
    return keys.load_or_create(tmp_path / "sealer-keys")


@pytest.fixture
def engine(tmp_path: Path, audit_key: keys.AuditKeyPair) -> Engine:
    """A log of 30 records, a checkpoint every 10."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    grow(engine, audit_key, 0, 30)
    return engine


@pytest.fixture
def witness(tmp_path: Path, engine: Engine) -> Witness:
    return Witness(
        log=DbLog(engine),
        key=load_or_create_key(tmp_path / "witness" / "witness.pem"),
        state_path=tmp_path / "witness" / "state.json",
        audit_keys=pins(tmp_path / "sealer-keys"),
        clock=lambda: 1_764_633_600.0,
    )


def test_the_key_is_created_once_private_and_its_fingerprint_has_the_audit_keys_form(tmp_path: Path) -> None:
    path = tmp_path / "w" / "witness.pem"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path).private_bytes_raw() == key.private_bytes_raw()
    public = keys.load_public_pem(public_path(path).read_text())
    fp = keys.fingerprint(public)
    assert keys.parse_fingerprint(fp) == fp and fp == keys.fingerprint(key.public_key())
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        load_or_create_key(path)


def test_first_run_co_signs_then_follows_with_consistency_proofs(
    witness: Witness, engine: Engine, audit_key: keys.AuditKeyPair
) -> None:
    first = witness.once()
    assert (first.size, first.previous, first.new) == (30, None, True)
    state = load_state(witness.state_path)
    assert state is not None and (state.size, state.root) == (30, first.root)
    assert stat.S_IMODE(witness.state_path.stat().st_mode) == 0o600
    grow(engine, audit_key, 30, 25)  # 55 records; checkpoints at 40 and 50, 5 pending
    second = witness.once()
    assert (second.size, second.previous, second.new) == (50, 30, True)
    again = witness.once()
    assert (again.size, again.new) == (50, False)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT last_seq, cosignatures FROM audit_checkpoint "
                "WHERE cosignatures IS NOT NULL ORDER BY last_seq"
            )
        ).all()
    assert [r.last_seq for r in rows] == [30, 50]
    assert [[c["witness"] for c in json.loads(r.cosignatures)] for r in rows] == [
        [keys.fingerprint(witness.public)]
    ] * 2
    latest = DbLog(engine).latest()["checkpoint"]
    assert cosignature.pinned_signer(
        latest["cosignatures"][0], keys.PinnedKeys.of(witness.public), size=50, root=latest["tree_root"]
    )


def test_the_statement_is_the_documented_text() -> None:
    message = cosignature.statement(origin="shuyuan-audit", size=3, root="00" * 32, timestamp=5)
    assert message == b"shuyuan-audit-cosignature/v1\ntime 5\nshuyuan-audit\n3\n" + b"A" * 43 + b"=\n"
    with pytest.raises(ValueError):
        cosignature.statement(origin="two\nlines", size=3, root="00" * 32, timestamp=5)


def refused(witness: Witness, problem: WitnessProblem) -> WitnessRefused:
    before = witness.state_path.read_text()
    with pytest.raises(WitnessRefused) as exc:
        witness.once()
    assert exc.value.problem is problem, exc.value
    assert witness.state_path.read_text() == before  # a refusal never moves the witness's state
    log = witness.log
    assert isinstance(log, DbLog) and log.refusals[-1][1]["problem"] == problem.value
    return exc.value


def test_a_cut_tail_is_refused(witness: Witness, engine: Engine) -> None:
    witness.once()
    truncate(engine, after=20)
    err = refused(witness, WitnessProblem.TRUNCATED)
    assert "21..30 were removed" in err.detail


def test_a_cut_tail_regrown_past_the_witnessed_size_is_refused(
    witness: Witness, engine: Engine, audit_key: keys.AuditKeyPair
) -> None:
    witness.once()
    truncate(engine, after=20)
    grow(engine, audit_key, 100, 20)  # the log is at 40 again, but seq 21..30 are other records
    refused(witness, WitnessProblem.INCONSISTENT)


def test_a_history_re_signed_with_the_stolen_audit_key_is_refused(
    witness: Witness, engine: Engine, audit_key: keys.AuditKeyPair
) -> None:
    witness.once()
    resign_history(engine, audit_key, seq=12)
    refused(witness, WitnessProblem.FORKED)  # same size, another root
    grow(engine, audit_key, 30, 10)
    refused(witness, WitnessProblem.INCONSISTENT)  # larger, but not an extension of what was seen


def test_a_checkpoint_signed_by_another_key_is_refused(
    witness: Witness, engine: Engine, tmp_path: Path
) -> None:
    witness.once()
    resign_history(engine, keys.load_or_create(tmp_path / "dba-keys"), seq=12)
    with engine.begin() as conn:
        store.ensure_key(conn, keys.load_or_create(tmp_path / "dba-keys"))
    refused(witness, WitnessProblem.BAD_SIGNATURE)


def test_a_forged_consistency_proof_is_refused(
    witness: Witness, engine: Engine, audit_key: keys.AuditKeyPair
) -> None:
    witness.once()
    grow(engine, audit_key, 30, 10)
    log = witness.log
    assert isinstance(log, DbLog)
    real = log.consistency

    def forged(first: int, second: int) -> list[str] | None:
        proof = real(first, second) or []
        return ["00" * 32, *proof[1:]]

    log.consistency = forged  # type: ignore[method-assign]
    refused(witness, WitnessProblem.INCONSISTENT)


def test_another_origin_is_refused(witness: Witness, engine: Engine, audit_key: keys.AuditKeyPair) -> None:
    witness.once()
    log = witness.log
    assert isinstance(log, DbLog)
    log.origin = "another-log"
    refused(witness, WitnessProblem.ORIGIN_CHANGED)


def test_the_state_file_is_the_witnesss_signed_latest_statement(witness: Witness) -> None:
    witness.once()
    data = json.loads(witness.state_path.read_text())
    assert data["format"] == "shuyuan-witness-state" and data["witness"] == keys.fingerprint(witness.public)
    assert cosignature.pinned_signer(
        data, keys.PinnedKeys.of(witness.public), size=data["size"], root=data["root"]
    )
    other = keys.PinnedKeys.of(keys.load_or_create(witness.state_path.parent / "other").public)
    assert cosignature.pinned_signer(data, other, size=data["size"], root=data["root"]) is None
