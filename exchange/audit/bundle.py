"""The export bundle's layout, shared by the exporter and the offline verifier.

A bundle is one ZIP file (written as a stream, so no size limit and no temporary copy):

    manifest.json        what was asked for, the seq range, complete or filtered
    records.jsonl        the records, one JSON object per line, in seq order (the evidence)
    records.csv          the same records as CSV (only with --format csv; checked against the JSONL;
                         cells that a spreadsheet would run as formulas start with ': protocol/csv_cells.py)
    checkpoints.jsonl    every signed checkpoint covering a record of the bundle, each with the witness
                         co-signatures the log holds for it (`cosignatures`)
    frontier.json        complete bundles: the log-wide tree just before the first record ({size, nodes}),
                         so the checkpoints' tree roots can be recomputed from the records
    witness.json         when the log's newest co-signed checkpoint is newer than the bundle's: that
                         checkpoint and a consistency proof to it from the bundle's newest tree
    proofs.jsonl         filtered bundles only: each record's Merkle inclusion proof
    keys/<kid>.pem       the public audit key(s) the checkpoints were signed with
"""

import json
from collections.abc import Mapping
from typing import Any

from exchange.audit.chain import RECORD_FIELDS
from protocol import csv_cells

FORMAT = "shuyuan-audit-bundle"
VERSION = 1
MANIFEST = "manifest.json"
RECORDS = "records.jsonl"
RECORDS_CSV = "records.csv"
CHECKPOINTS = "checkpoints.jsonl"
PROOFS = "proofs.jsonl"
FRONTIER = "frontier.json"
WITNESS = "witness.json"
KEYS_DIR = "keys/"


def csv_header() -> str:
    """The CSV header line."""
    return csv_line(dict(zip(RECORD_FIELDS, RECORD_FIELDS, strict=True)))


def csv_line(record: Mapping[str, Any]) -> str:
    """One record as a CSV line: null is empty, the element list is a JSON array, formulas neutralised."""
    return csv_cells.line(_cell(f, record.get(f)) for f in RECORD_FIELDS)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "elements" and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # A case number like =HYPERLINK(...) must not run in the officer's spreadsheet; the verifier
    # recomputes cells through this same function, so it matches the neutralised CSV exactly.
    return csv_cells.neutralise(str(value))


def csv_row_of(record: Mapping[str, Any]) -> list[str]:
    """The cells a record's CSV line must hold (what the verifier compares)."""
    return [_cell(f, record.get(f)) for f in RECORD_FIELDS]
