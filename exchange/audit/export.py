"""Export for security officers: stream records out of the database into a bundle or a text stream.

Records are read with a server-side cursor in chunks (`store.iter_records`), so a month of records is
never in memory. Only sealed records are exported: those a signed checkpoint covers.
"""

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import Connection, Engine, func, select
from sqlmodel import col

from exchange.audit import bundle, chain, checkpoint, store
from exchange.audit.models import AuditKey
from protocol.clock import utcnow
from protocol.errors import ShuyuanError

E = store.E
CP = store.CP
Format = Literal["jsonl", "csv"]
_SPOOL = 8 * 1024 * 1024


@dataclass(frozen=True)
class ExportFilter:
    """What a security officer asks for; every field optional. `subject_index` is a blind index."""

    time_from: datetime | None = None
    time_to: datetime | None = None
    department: str | None = None
    system: str | None = None
    element: str | None = None
    purpose: str | None = None
    decision: str | None = None
    subject_index: str | None = None
    seq_from: int | None = None
    seq_to: int | None = None
    # End at the newest checkpoint a witness co-signed: what `verify --witness-key` accepts, while the
    # checkpoints after it wait for the witness's next round.
    witnessed: bool | None = None

    @property
    def complete(self) -> bool:
        """Whether this asks for a whole range (chain-verifiable) rather than a selection."""
        content = (
            self.department,
            self.system,
            self.element,
            self.purpose,
            self.decision,
            self.subject_index,
        )
        return all(v is None for v in content)

    def describe(self) -> dict[str, Any]:
        """The filter as JSON (times in record form)."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        for k in ("time_from", "time_to"):
            if k in out:
                out[k] = chain.format_time(out[k])
        return out


def _checkpoints(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(CP).order_by(CP.c.first_seq))
    return [store.checkpoint_from_row(r) for r in rows]


def _witness_parts(engine: Engine, conn: Connection, covering: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The log's newest co-signed checkpoint and a consistency proof to it, when newer than the bundle's."""
    from exchange.audit import tlog

    newest = covering[-1] if covering else None
    if newest is None or newest.get("tree_root") is None:
        return None
    tip_seq = store.newest_cosigned(conn)
    if tip_seq is None or tip_seq <= newest["last_seq"]:
        return None
    row = conn.execute(select(CP).where(CP.c.last_seq == tip_seq)).first()
    if row is None:
        return None
    tip = store.checkpoint_from_row(row)
    tip["cosignatures"] = store.cosignatures_of(conn, [tip_seq]).get(tip_seq, [])
    try:
        proof = tlog.consistency(engine=engine, first=newest["last_seq"], second=tip_seq)
    except ShuyuanError:
        return None  # the log cannot prove it: the verifier then says the bundle is not witnessed
    return {"checkpoint": tip, "consistency": proof}


def _range(conn: Connection, f: ExportFilter, cps: list[dict[str, Any]]) -> tuple[int, int] | None:
    """The seq range to read: within sealed records, widened to whole checkpoints for a complete export."""
    if not cps:
        return None
    lo, hi = cps[0]["first_seq"], cps[-1]["last_seq"]
    if f.witnessed:
        hi = min(hi, store.newest_cosigned(conn) or 0)
    if f.seq_from is not None:
        lo = max(lo, f.seq_from)
    if f.seq_to is not None:
        hi = min(hi, f.seq_to)
    if f.time_from is not None:
        first = conn.execute(select(func.min(E.seq)).where(E.time >= f.time_from, E.seq >= lo)).scalar()
        lo = first if first is not None else hi + 1
    if f.time_to is not None:
        last = conn.execute(select(func.max(E.seq)).where(E.time < f.time_to, E.seq <= hi)).scalar()
        hi = last if last is not None else lo - 1
    if lo > hi:
        return None
    if f.complete:
        # A complete export holds whole checkpoint ranges, so every Merkle root can be recomputed.
        lo = next(c["first_seq"] for c in cps if c["last_seq"] >= lo)
        hi = next(c["last_seq"] for c in cps if c["last_seq"] >= hi)
    return lo, hi


def _select(f: ExportFilter, lo: int, hi: int) -> Any:
    stmt = select(E).where(E.seq >= lo, E.seq <= hi)
    if not f.complete:
        conditions = {
            E.actor_department: f.department,
            E.actor_system: f.system,
            E.service_item: f.purpose,
            E.decision: f.decision,
            E.subject_index: f.subject_index,
        }
        for column, value in conditions.items():
            if value is not None:
                stmt = stmt.where(column == value)
        if f.element is not None:
            # elements is a JSON array of codes; codes are [a-z0-9._] so the quoted form is unambiguous.
            stmt = stmt.where(E.elements.contains(json.dumps(f.element), autoescape=True))
        if f.time_from is not None:
            stmt = stmt.where(E.time >= f.time_from)
        if f.time_to is not None:
            stmt = stmt.where(E.time < f.time_to)
    return stmt.order_by(E.seq)


def count(engine: Engine, f: ExportFilter) -> int:
    """How many records an export with this filter will hold (for a progress bar)."""
    with engine.connect() as conn:
        span = _range(conn, f, _checkpoints(conn))
        if span is None:
            return 0
        sub = _select(f, *span).subquery()
        return int(conn.execute(select(func.count()).select_from(sub)).scalar() or 0)


def stream_records(engine: Engine, f: ExportFilter, fmt: Format = "jsonl") -> Iterator[str]:
    """The records as JSON Lines or CSV text, chunk by chunk (the API's export stream)."""
    with engine.connect() as conn:
        span = _range(conn, f, _checkpoints(conn))
        if fmt == "csv":
            yield bundle.csv_header()
        if span is None:
            return
        for record in store.iter_records(conn, _select(f, *span)):
            yield bundle.csv_line(record) if fmt == "csv" else chain.to_json_line(record) + "\n"


class _Proofs:
    """Inclusion proofs for a filtered export; holds one checkpoint's leaf hashes at a time."""

    def __init__(self, conn: Connection, cps: list[dict[str, Any]]) -> None:
        self._conn = conn
        self._cps = cps
        self._current: dict[str, Any] | None = None
        self._hashes: list[str] = []
        self.used: dict[int, dict[str, Any]] = {}

    def proof(self, seq: int) -> dict[str, Any]:
        if self._current is None or not self._current["first_seq"] <= seq <= self._current["last_seq"]:
            self._current = next(c for c in self._cps if c["first_seq"] <= seq <= c["last_seq"])
            lo, hi = self._current["first_seq"], self._current["last_seq"]
            stmt = select(E.hash).where(E.seq >= lo, E.seq <= hi).order_by(E.seq)
            self._hashes = list(self._conn.execute(stmt).scalars())
        cp = self._current
        self.used[cp["last_seq"]] = cp
        index = seq - cp["first_seq"]
        return {"seq": seq, "checkpoint": cp["last_seq"], "index": index,
                "path": checkpoint.inclusion_proof(self._hashes, index)}  # fmt: skip


def write_bundle(
    engine: Engine,
    f: ExportFilter,
    out: Path | IO[bytes],
    *,
    formats: tuple[Format, ...] = ("jsonl",),
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write a bundle (ZIP) of the records the filter selects; return its manifest."""
    # A ZIP takes one member at a time: the CSV and the proofs go to spooled temporary files (on disk
    # beyond a few MB) while the records stream into the archive, then they are copied in.
    with engine.connect() as conn, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf, \
            tempfile.SpooledTemporaryFile(_SPOOL) as csv_tmp, \
            tempfile.SpooledTemporaryFile(_SPOOL) as proof_tmp:  # fmt: skip
        cps = _checkpoints(conn)
        span = _range(conn, f, cps)
        proofs = _Proofs(conn, cps) if not f.complete else None
        with_csv = "csv" in formats
        n, first, last = 0, None, None
        if with_csv:
            csv_tmp.write(bundle.csv_header().encode())
        with zf.open(bundle.RECORDS, "w", force_zip64=True) as rec_out:
            for record in store.iter_records(conn, _select(f, *span)) if span else ():
                rec_out.write((chain.to_json_line(record) + "\n").encode())
                if with_csv:
                    csv_tmp.write(bundle.csv_line(record).encode())
                if proofs is not None:
                    proof_tmp.write((json.dumps(proofs.proof(record["seq"])) + "\n").encode())
                first = record["seq"] if first is None else first
                last = record["seq"]
                n += 1
                if progress is not None and n % 1000 == 0:
                    progress(1000)
        if progress is not None and n % 1000:
            progress(n % 1000)
        for name, tmp, wanted in (
            (bundle.RECORDS_CSV, csv_tmp, with_csv),
            (bundle.PROOFS, proof_tmp, proofs),
        ):
            if wanted:
                tmp.seek(0)
                with zf.open(name, "w", force_zip64=True) as member:
                    shutil.copyfileobj(tmp, member)
        if proofs is not None:
            covering = sorted(proofs.used.values(), key=lambda c: c["first_seq"])
        else:
            covering = [c for c in cps if span and span[0] <= c["first_seq"] and c["last_seq"] <= span[1]]
        cosigs = store.cosignatures_of(conn, [c["last_seq"] for c in covering])
        covering = [{**c, "cosignatures": cosigs.get(c["last_seq"], [])} for c in covering]
        zf.writestr(bundle.CHECKPOINTS, "".join(json.dumps(c, sort_keys=True) + "\n" for c in covering))
        if f.complete and covering and covering[0]["first_seq"] > 1:
            anchor = store.frontier_at(conn, covering[0]["first_seq"] - 1)
            if anchor is not None:
                zf.writestr(bundle.FRONTIER, json.dumps(anchor.to_json()))
        tip = _witness_parts(engine, conn, covering)
        if tip is not None:
            zf.writestr(bundle.WITNESS, json.dumps(tip, sort_keys=True, indent=2))
        kids = sorted({c["kid"] for c in covering} | ({tip["checkpoint"]["kid"]} if tip else set()))
        for row in conn.execute(select(AuditKey).where(col(AuditKey.kid).in_(kids))):
            zf.writestr(f"{bundle.KEYS_DIR}{row.kid}.pem", row.public_key_pem)
        manifest = {
            "format": bundle.FORMAT,
            "version": bundle.VERSION,
            "created": chain.format_time(utcnow()),
            "complete": f.complete,
            "filter": f.describe(),
            "first_seq": first,
            "last_seq": last,
            "records": n,
            "checkpoints": len(covering),
            "keys": kids,
            "files": [bundle.RECORDS, *([bundle.RECORDS_CSV] if "csv" in formats else [])],
        }
        zf.writestr(bundle.MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2))
    return manifest
