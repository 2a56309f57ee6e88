"""The catalogue exchange formats (JSON and CSV) and their parsing into numbered rows.

JSON: {"elements": [element + "aliases": [...]], "service_items": [item with materials]}.
CSV: elements.csv, one element per row, aliases as `scope_type:scope:local_code:local_name` joined by
`;`, value_schema as JSON text; service_items.csv, one material per row (an item without materials
has one row with an empty `material`), the replacing elements' codes separated by spaces. A cell that
would start a spreadsheet formula is written with a leading `'` and read back without it
(protocol/csv_cells.py).
"""

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from protocol import csv_cells
from protocol.csv_cells import neutralise, restore

ELEMENT_COLUMNS = (
    "code",
    "name_zh",
    "name_en",
    "definition",
    "subject_type",
    "source",
    "value_type",
    "value_schema",
    "sensitivity",
    "grade",
    "grade_basis",
    "sharing_type",
    "sharing_conditions",
    "update_frequency",
    "status",
    "aliases",
)
# Columns added after the format was first published: a file written before them still imports.
OPTIONAL_COLUMNS = frozenset({"grade_basis"})
ITEM_COLUMNS = ("item_code", "item_name", "handling_department", "material", "elements")
MAX_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of one row: where (file, row number, field) and what."""

    file: str
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the problem body."""
        return {"file": self.file, "row": self.row, "field": self.field, "message": self.message}


@dataclass
class Rows:
    """Parsed rows, numbered as the steward sees them (CSV: line number; JSON: 1-based position)."""

    elements: list[tuple[int, dict[str, Any]]]
    items: list[tuple[int, dict[str, Any]]]
    errors: list[RowError]


def parse_json(data: bytes) -> Rows:
    """Rows of a JSON catalogue document."""
    rows = Rows([], [], [])
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        rows.errors.append(RowError("catalogue.json", 0, "", f"not JSON: {str(exc)[:200]}"))
        return rows
    if not isinstance(doc, dict) or not set(doc) <= {"elements", "service_items"}:
        rows.errors.append(
            RowError("catalogue.json", 0, "", "expected an object with `elements` and `service_items`")
        )
        return rows
    for key, target in (("elements", rows.elements), ("service_items", rows.items)):
        values = doc.get(key, [])
        if not isinstance(values, list) or len(values) > MAX_ROWS:
            rows.errors.append(RowError("catalogue.json", 0, key, f"expected a list of at most {MAX_ROWS}"))
            continue
        for n, value in enumerate(values, start=1):
            if isinstance(value, dict):
                target.append((n, value))
            else:
                rows.errors.append(RowError(key, n, "", "expected an object"))
    return rows


def _csv_rows(
    text: str, name: str, columns: tuple[str, ...], errors: list[RowError]
) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    missing = [c for c in columns if c not in (reader.fieldnames or []) and c not in OPTIONAL_COLUMNS]
    if missing:
        errors.append(RowError(name, 1, ",".join(missing), "missing columns"))
        return []
    out: list[tuple[int, dict[str, str]]] = []
    for record in reader:
        if len(out) >= MAX_ROWS:
            errors.append(RowError(name, reader.line_num, "", f"more than {MAX_ROWS} rows"))
            break
        if None in record:
            errors.append(RowError(name, reader.line_num, "", "more cells than columns"))
            continue
        cells = {c: "" for c in OPTIONAL_COLUMNS & set(columns)}
        cells |= {k: restore((v or "").strip()) for k, v in record.items() if k in columns}
        out.append((reader.line_num, cells))
    return out


def parse_csv(elements_csv: str | None, items_csv: str | None) -> Rows:
    """Rows of elements.csv and service_items.csv (either may be absent)."""
    rows = Rows([], [], [])
    for line, record in (
        _csv_rows(elements_csv or "", "elements.csv", ELEMENT_COLUMNS, rows.errors) if elements_csv else []
    ):
        element: dict[str, Any] = {
            k: v for k, v in record.items() if v != "" and k not in ("aliases", "value_schema")
        }
        if record["value_schema"]:
            try:
                element["value_schema"] = json.loads(record["value_schema"])
            except ValueError:
                rows.errors.append(RowError("elements.csv", line, "value_schema", "not JSON"))
                continue
        aliases = []
        for part in filter(None, (p.strip() for p in record["aliases"].split(";"))):
            bits = part.split(":", 3)
            if len(bits) != 4:
                rows.errors.append(
                    RowError(
                        "elements.csv",
                        line,
                        "aliases",
                        f"expected scope_type:scope:code:name, got {part[:80]!r}",
                    )
                )
                break
            aliases.append(dict(zip(("scope_type", "scope", "local_code", "local_name"), bits, strict=True)))
        else:
            rows.elements.append((line, element | {"aliases": aliases}))
    items: dict[str, tuple[int, dict[str, Any]]] = {}
    for line, record in (
        _csv_rows(items_csv or "", "service_items.csv", ITEM_COLUMNS, rows.errors) if items_csv else []
    ):
        line_item = items.setdefault(
            record["item_code"],
            (
                line,
                {
                    "code": record["item_code"],
                    "name": record["item_name"],
                    "handling_department": record["handling_department"],
                    "materials": [],
                },
            ),
        )
        if record["material"]:
            line_item[1]["materials"].append(
                {"name": record["material"], "elements": record["elements"].split()}
            )
    rows.items.extend(items.values())
    return rows


def to_csv(header: tuple[str, ...], records: list[dict[str, Any]]) -> str:
    """A CSV text with a header line; cells a spreadsheet would run as formulas start with `'`."""
    # An element named =HYPERLINK(...) must not run in a steward's spreadsheet; import restores it.
    rows = ([neutralise("" if r.get(k) is None else str(r[k])) for k in header] for r in records)
    return csv_cells.line(header) + "".join(csv_cells.line(cells) for cells in rows)
