"""Retention and archive: at least 180 days online, older whole checkpoint ranges moved to verified
archive bundles, and the chain continuing across archives into what stays online."""

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from exchange.audit import keys, records, store
from exchange.audit.archive import archive
from exchange.audit.cli import audit_app
from exchange.audit.events import AuditAction
from exchange.audit.export import ExportFilter, write_bundle
from exchange.audit.settings import AuditSettings
from exchange.audit.verify import verify_bundle, verify_chain_of_bundles
from protocol.clock import utcnow
from registry import db
from tests.auditkit import pins

EXCHANGE_MIGRATIONS = Path(__file__).resolve().parents[2] / "exchange" / "migrations"
NOW = utcnow()


@pytest.fixture
def aged_log(tmp_path: Path) -> Engine:
    """60 records: 400, 300 and 10 days old (20 each), a checkpoint every 10."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    key = keys.load_or_create(tmp_path / "keys")
    policy = store.CheckpointPolicy(every=10, interval_s=10**6)
    for age in (400, 300, 10):
        for _ in range(2):
            steps = [
                records.query_step(
                    AuditAction.QUERY_RECEIVED,
                    gateway="gw-0",
                    department="zjj",
                    subject_index="ab" * 32,
                    service_item="330100-GZF-001",
                    case_no="CASE-1",
                    request_id=f"q-{age}",
                    elements=["person.name"],
                    time=NOW - timedelta(days=age),
                )
                for _ in range(10)
            ]
            with engine.begin() as conn:
                store.append(conn, steps, key=key, policy=policy)
    return engine


def settings(tmp_path: Path, days: int = 180) -> AuditSettings:
    return AuditSettings(retention_days=days, archive_dir=tmp_path / "archive", key_dir=tmp_path / "keys")


def test_retention_shorter_than_180_days_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        AuditSettings(retention_days=179)
    result = CliRunner().invoke(
        audit_app, ["archive", "--retention-days", "30", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert result.exit_code == 2 and "180" in result.output
    assert not (tmp_path / "x.db").exists()


def test_old_ranges_move_to_archives_that_chain_into_the_online_log(aged_log: Engine, tmp_path: Path) -> None:
    first = archive(aged_log, settings=settings(tmp_path), now=NOW)
    assert first is not None and (first.first_seq, first.last_seq, first.records) == (1, 40, 40)
    with aged_log.connect() as conn:
        assert conn.execute(text("SELECT min(seq), count(*) FROM audit_entry")).one() == (41, 20)
        assert conn.execute(text("SELECT min(first_seq) FROM audit_checkpoint")).scalar() == 41
        assert conn.execute(text("SELECT last_seq, path FROM audit_archive")).one() == (40, str(first.path))
    assert archive(aged_log, settings=settings(tmp_path), now=NOW) is None  # nothing else is old enough

    online = tmp_path / "online.zip"
    write_bundle(aged_log, ExportFilter(), online)
    report = verify_bundle(online, pinned=pins(tmp_path / "keys"))
    assert report.ok and report.first_seq == 41, report.problem
    reports = verify_chain_of_bundles([first.path, online], pinned=pins(tmp_path / "keys"))
    assert all(r.ok for r in reports), [r.problem for r in reports]

    later = archive(aged_log, settings=settings(tmp_path), now=NOW + timedelta(days=200))
    assert later is not None and (later.first_seq, later.last_seq) == (41, 60)
    assert all(
        r.ok for r in verify_chain_of_bundles([first.path, later.path], pinned=pins(tmp_path / "keys"))
    )
    swapped = verify_chain_of_bundles([later.path, first.path], pinned=pins(tmp_path / "keys"))
    assert not swapped[1].ok and "does not continue" in (swapped[1].problem or "")


def test_the_retention_period_is_honoured(aged_log: Engine, tmp_path: Path) -> None:
    done = archive(aged_log, settings=settings(tmp_path, days=350), now=NOW)
    assert done is not None and done.last_seq == 20  # only the 400-day-old records


def test_cli_archive_and_verify_of_a_chain_of_archives(
    aged_log: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUYUAN_AUDIT_KEY_DIR", str(tmp_path / "keys"))  # the archiver's own key
    url = aged_log.url.render_as_string(hide_password=False)
    runner = CliRunner()
    pem = tmp_path / "audit.pem"
    pem.write_text(keys.public_pem(keys.load_or_create(tmp_path / "keys").public))
    out = runner.invoke(audit_app, ["archive", "--database-url", url, "--archive-dir", str(tmp_path / "a")])
    assert out.exit_code == 0 and "archived seq 1..40" in out.output, out.output
    bundle = tmp_path / "online.zip"
    out = runner.invoke(audit_app, ["export", "--database-url", url, "--out", str(bundle)])
    assert out.exit_code == 0, out.output
    archived = next((tmp_path / "a").glob("*.zip"))
    out = runner.invoke(audit_app, ["verify", str(archived), str(bundle), "--audit-key", str(pem)])
    verified = [line for line in out.output.splitlines() if line.startswith("OK ")]
    assert out.exit_code == 0 and len(verified) == 2, out.output  # (a signature may contain "OK")
    out = runner.invoke(audit_app, ["verify", str(bundle), str(archived), "--audit-key", str(pem)])
    assert out.exit_code == 1 and "does not continue" in out.output


def test_cli_export_filters_by_subject_and_refuses_a_bad_identifier(aged_log: Engine, tmp_path: Path) -> None:
    url = aged_log.url.render_as_string(hide_password=False)
    runner = CliRunner()
    bad = runner.invoke(
        audit_app,
        ["export", "--database-url", url, "--out", str(tmp_path / "x.zip"), "--subject-type", "person",
         "--subject-id", "110105198804190478"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "check" in bad.output.lower() and not (tmp_path / "x.zip").exists()
    out = tmp_path / "dept.zip"
    ok = runner.invoke(
        audit_app, ["export", "--database-url", url, "--out", str(out), "--department", "zjj", "--csv"]
    )
    assert ok.exit_code == 0 and "filtered, with inclusion proofs" in ok.output, ok.output
    fingerprint = keys.fingerprint(keys.load_or_create(tmp_path / "keys").public)
    verified = runner.invoke(audit_app, ["verify", str(out), "--audit-key-fingerprint", fingerprint])
    assert verified.exit_code == 0 and "inclusion proofs verified" in verified.output, verified.output
