"""Tamper evidence: one changed, deleted, reordered or inserted record — in an export or in the database —
is found by the offline verifier, which names the record; an untouched export of 100,000 records verifies."""

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from exchange.audit import bundle, chain, export, keys, records, store
from exchange.audit.events import AuditAction, AuditRecord
from exchange.audit.export import ExportFilter
from exchange.audit.verify import Report, verify_bundle
from registry import db
from tests.auditkit import pins

EXCHANGE_MIGRATIONS = Path(__file__).resolve().parents[2] / "exchange" / "migrations"


def body(i: int) -> AuditRecord:
    """A record body as the query flow writes it."""
    return records.query_step(
        AuditAction.ELEMENT_DECIDED,
        gateway="gw-0",
        department=("zjj", "xzsp")[i % 2],
        subject_index=f"{i % 97:064x}",
        elements=["person.name" if i % 3 else "person.si_contribution_base"],
        service_item="330100-GZF-001",
        case_no=f"CASE-{i}",
        decision="allow" if i % 5 else "deny",
        request_id=f"q-{i:010d}",
    )


def make_log(tmp_path: Path, n: int, *, every: int = 10, batch: int = 5) -> Engine:
    """A gateway database holding n chained records with a checkpoint every `every` records."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    key = keys.load_or_create(tmp_path / "keys")
    policy = store.CheckpointPolicy(every=every, interval_s=3600)
    for start in range(0, n, batch):
        with engine.begin() as conn:
            store.append(conn, [body(i) for i in range(start, min(n, start + batch))], key=key, policy=policy)
    with engine.begin() as conn:
        store.maybe_checkpoint(conn, key=key, policy=policy, force=True)
    return engine


@pytest.fixture
def log(tmp_path: Path) -> Engine:
    """A log of 95 records in 10 checkpoints (the last one short)."""
    return make_log(tmp_path, 95)


def export_to(engine: Engine, path: Path, f: ExportFilter | None = None, **kw: Any) -> Path:
    """Export a bundle and return its path."""
    export.write_bundle(engine, f or ExportFilter(), path, **kw)
    return path


def rewrite(src: Path, dst: Path, member: str, edit: Callable[[list[str]], list[str]]) -> Path:
    """Copy a bundle, editing the lines of one member."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == member:
                data = "".join(edit(data.decode().splitlines(keepends=True))).encode()
            zout.writestr(item.filename, data)
    return dst


def edit_record(lines: list[str], index: int, **changes: Any) -> list[str]:
    record = json.loads(lines[index])
    record.update(changes)
    lines[index] = chain.to_json_line(record) + "\n"
    return lines


def broken(report: Report, seq: int | None, *words: str) -> None:
    assert not report.ok
    assert report.broken_seq == seq, report.problem
    for w in words:
        assert w in (report.problem or ""), report.problem


def test_an_untouched_export_verifies_with_its_csv(log: Engine, tmp_path: Path) -> None:
    path = export_to(log, tmp_path / "b.zip", formats=("jsonl", "csv"))
    report = verify_bundle(path, pinned=pins(tmp_path / "keys"))
    assert report.ok, report.problem
    assert (report.records, report.checkpoints, report.first_seq, report.last_seq) == (95, 10, 1, 95)
    assert report.anchor == chain.GENESIS


def test_a_changed_record_in_an_export_is_named(log: Engine, tmp_path: Path) -> None:
    good = export_to(log, tmp_path / "b.zip")
    bad = rewrite(good, tmp_path / "x.zip", bundle.RECORDS, lambda ls: edit_record(ls, 41, decision="deny"))
    broken(verify_bundle(bad, pinned=pins(tmp_path / "keys")), 42, "record seq 42", "changed")


def test_a_changed_record_whose_chain_was_recomputed_fails_its_signed_checkpoint(
    log: Engine, tmp_path: Path
) -> None:
    good = export_to(log, tmp_path / "b.zip")

    def rechain(lines: list[str]) -> list[str]:
        records = [json.loads(line) for line in lines]
        records[41]["actor_department"] = "someone-else"
        out, prev = [], records[40]["hash"]
        for r in records[:41]:
            out.append(chain.to_json_line(r) + "\n")
        for r in records[41:]:
            r = chain.seal(r, seq=r["seq"], prev_hash=prev)
            prev = r["hash"]
            out.append(chain.to_json_line(r) + "\n")
        return out

    bad = rewrite(good, tmp_path / "x.zip", bundle.RECORDS, rechain)
    broken(verify_bundle(bad, pinned=pins(tmp_path / "keys")), 41, "seq 41..50", "Merkle root")


def test_a_deleted_record_in_an_export_is_named(log: Engine, tmp_path: Path) -> None:
    good = export_to(log, tmp_path / "b.zip")
    bad = rewrite(good, tmp_path / "x.zip", bundle.RECORDS, lambda ls: ls[:29] + ls[30:])
    broken(verify_bundle(bad, pinned=pins(tmp_path / "keys")), 30, "record seq 30 is missing")


def test_reordered_records_in_an_export_are_named(log: Engine, tmp_path: Path) -> None:
    good = export_to(log, tmp_path / "b.zip")
    bad = rewrite(good, tmp_path / "x.zip", bundle.RECORDS, lambda ls: [*ls[:60], ls[61], ls[60], *ls[62:]])
    broken(verify_bundle(bad, pinned=pins(tmp_path / "keys")), 61, "record seq 61")


def test_an_inserted_record_in_an_export_is_named(log: Engine, tmp_path: Path) -> None:
    good = export_to(log, tmp_path / "b.zip")

    def insert(lines: list[str]) -> list[str]:
        before = json.loads(lines[9])
        # A well-formed forgery: right seq, right link to the record before it, its own hash correct.
        forged = chain.seal(body(999), seq=11, prev_hash=before["hash"])
        return [*lines[:10], chain.to_json_line(forged) + "\n", *lines[10:]]

    bad = rewrite(good, tmp_path / "x.zip", bundle.RECORDS, insert)
    broken(verify_bundle(bad, pinned=pins(tmp_path / "keys")), 11, "record seq 11")
    dup = rewrite(good, tmp_path / "y.zip", bundle.RECORDS, lambda ls: [*ls[:10], ls[9], *ls[10:]])
    broken(
        verify_bundle(dup, pinned=pins(tmp_path / "keys")), 10, "record seq 10 is out of order or repeated"
    )


def test_a_truncated_export_and_altered_checkpoints_or_keys_are_found(log: Engine, tmp_path: Path) -> None:
    good = export_to(log, tmp_path / "b.zip")
    cut = rewrite(good, tmp_path / "cut.zip", bundle.RECORDS, lambda ls: ls[:-1])
    broken(verify_bundle(cut, pinned=pins(tmp_path / "keys")), 95, "missing")
    root = rewrite(
        good,
        tmp_path / "cp.zip",
        bundle.CHECKPOINTS,
        lambda ls: [ls[0].replace('"first_seq": 1', '"first_seq": 2'), *ls[1:]],
    )
    broken(verify_bundle(root, pinned=pins(tmp_path / "keys")), None, "checkpoint", "signature")
    other = keys.load_or_create(tmp_path / "other-key")
    with zipfile.ZipFile(good) as z:
        kid = next(n for n in z.namelist() if n.startswith(bundle.KEYS_DIR))
    swapped = rewrite(good, tmp_path / "key.zip", kid, lambda _: [keys.public_pem(other.public)])
    broken(verify_bundle(swapped, pinned=pins(tmp_path / "keys")), None, "signature does not verify")


def test_a_whole_checkpoint_range_cut_out_of_an_export_is_named(log: Engine, tmp_path: Path) -> None:
    good = export_to(log, tmp_path / "b.zip")
    cut = rewrite(good, tmp_path / "r.zip", bundle.RECORDS, lambda ls: [*ls[:20], *ls[30:]])
    both = rewrite(cut, tmp_path / "c.zip", bundle.CHECKPOINTS, lambda ls: [*ls[:2], *ls[3:]])
    broken(verify_bundle(both, pinned=pins(tmp_path / "keys")), 21, "record seq 21 is missing")


def test_a_changed_csv_row_is_found(log: Engine, tmp_path: Path) -> None:
    good = export_to(log, tmp_path / "b.zip", formats=("jsonl", "csv"))
    bad = rewrite(
        good,
        tmp_path / "x.zip",
        bundle.RECORDS_CSV,
        lambda ls: [*ls[:5], ls[5].replace("zjj", "amr"), *ls[6:]],
    )
    broken(verify_bundle(bad, pinned=pins(tmp_path / "keys")), 5, "records.csv", "seq 5")


def test_a_filtered_export_proves_each_record_and_names_a_forged_one(log: Engine, tmp_path: Path) -> None:
    f = ExportFilter(department="zjj", decision="allow")
    good = export_to(log, tmp_path / "f.zip", f)
    report = verify_bundle(good, pinned=pins(tmp_path / "keys"))
    assert report.ok and not report.complete, report.problem
    with zipfile.ZipFile(good) as z:
        records = [json.loads(line) for line in z.read(bundle.RECORDS).decode().splitlines()]
    assert records and all(r["actor_department"] == "zjj" and r["decision"] == "allow" for r in records)
    third = records[2]["seq"]
    changed = rewrite(good, tmp_path / "c.zip", bundle.RECORDS, lambda ls: edit_record(ls, 2, case_no="X"))
    broken(verify_bundle(changed, pinned=pins(tmp_path / "keys")), third, f"record seq {third}")

    def forge(lines: list[str]) -> list[str]:
        r = json.loads(lines[2])
        r["case_no"] = "FORGED"
        lines[2] = chain.to_json_line(chain.seal(r, seq=r["seq"], prev_hash=r["prev_hash"])) + "\n"
        return lines

    rehashed = rewrite(good, tmp_path / "r.zip", bundle.RECORDS, forge)
    broken(verify_bundle(rehashed, pinned=pins(tmp_path / "keys")), third, "is not in signed checkpoint")
    swapped = rewrite(good, tmp_path / "s.zip", bundle.RECORDS, lambda ls: [ls[1], ls[0], *ls[2:]])
    # The first line is now seq 5 while the first proof is seq 3's: the moved record is named.
    broken(
        verify_bundle(swapped, pinned=pins(tmp_path / "keys")),
        records[1]["seq"],
        f"record seq {records[1]['seq']}",
        "moved",
    )


def test_a_subject_filter_selects_by_blind_index(log: Engine, tmp_path: Path) -> None:
    index = f"{5:064x}"
    path = export_to(log, tmp_path / "s.zip", ExportFilter(subject_index=index))
    with zipfile.ZipFile(path) as z:
        records = [json.loads(line) for line in z.read(bundle.RECORDS).decode().splitlines()]
    assert [r["seq"] for r in records] == [6]  # body(5) is the only one with index 5 among 95
    assert verify_bundle(path, pinned=pins(tmp_path / "keys")).ok


def test_an_element_filter_treats_underscores_literally(log: Engine, tmp_path: Path) -> None:
    path = export_to(log, tmp_path / "e.zip", ExportFilter(element="person.si_contribution_base"))
    with zipfile.ZipFile(path) as z:
        records = [json.loads(line) for line in z.read(bundle.RECORDS).decode().splitlines()]
    assert len(records) == 32 and all(r["elements"] == ["person.si_contribution_base"] for r in records)
    nothing = export_to(log, tmp_path / "n.zip", ExportFilter(element="person.si_contribution_bas_"))
    assert verify_bundle(nothing, pinned=pins(tmp_path / "keys")).records == 0


def tamper_db(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for s in statements:
            conn.execute(text(s))


def test_a_changed_record_in_the_database_is_named(log: Engine, tmp_path: Path) -> None:
    tamper_db(log, "UPDATE audit_entry SET decision = 'deny' WHERE seq = 25")
    broken(
        verify_bundle(export_to(log, tmp_path / "b.zip"), pinned=pins(tmp_path / "keys")),
        25,
        "record seq 25",
        "changed",
    )


def test_a_deleted_record_in_the_database_is_named(log: Engine, tmp_path: Path) -> None:
    tamper_db(log, "DELETE FROM audit_entry WHERE seq = 57")
    broken(
        verify_bundle(export_to(log, tmp_path / "b.zip"), pinned=pins(tmp_path / "keys")),
        57,
        "record seq 57 is missing",
    )


def test_reordered_records_in_the_database_are_named(log: Engine, tmp_path: Path) -> None:
    # Swap the places of seq 70 and 71: each row moves whole, its hashes with it.
    tamper_db(
        log,
        "UPDATE audit_entry SET seq = -70 WHERE seq = 70",
        "UPDATE audit_entry SET seq = 70 WHERE seq = 71",
        "UPDATE audit_entry SET seq = 71 WHERE seq = -70",
    )
    broken(
        verify_bundle(export_to(log, tmp_path / "b.zip"), pinned=pins(tmp_path / "keys")), 70, "record seq 70"
    )


def test_an_inserted_record_in_the_database_is_named(log: Engine, tmp_path: Path) -> None:
    with log.connect() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_entry WHERE seq = 33")).scalar_one()
    forged = chain.seal(body(500), seq=34, prev_hash=prev)
    tamper_db(
        log,
        "UPDATE audit_entry SET seq = -seq WHERE seq > 33",
        "UPDATE audit_entry SET seq = 1 - seq WHERE seq < 0",
    )
    with log.begin() as conn:
        conn.execute(store.AuditEntry.__table__.insert(), store.columns_of(forged))  # type: ignore[attr-defined]
    broken(
        verify_bundle(export_to(log, tmp_path / "b.zip"), pinned=pins(tmp_path / "keys")), 35, "record seq 35"
    )


def test_an_untouched_export_of_100000_records_verifies(tmp_path: Path) -> None:
    # Records are made through the chain code directly (not 100,000 HTTP queries); about 30 s on 2 cores.
    engine = make_log(tmp_path, 100_000, every=1000, batch=2000)
    path = export_to(engine, tmp_path / "big.zip")
    report = verify_bundle(path, pinned=pins(tmp_path / "keys"))
    assert report.ok, report.problem
    assert (report.records, report.checkpoints, report.first_seq, report.last_seq) == (
        100_000,
        50,
        1,
        100_000,
    )
