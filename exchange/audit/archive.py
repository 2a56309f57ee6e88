"""Retention and archive: ranges older than the retention period leave the database for bundle files.

Records stay online at least `retention_days` (>= 180, 网络安全法 第二十一条). Older records are moved
in whole checkpoint ranges, so each archive file is a complete, verifiable bundle; its first record's
prev_hash is the last hash of the archive before it (or of genesis), so the chain continues across
archives and into what is still online, as X-Road links its message-log archives.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, func, insert, select

from exchange.audit import export, store
from exchange.audit.export import ExportFilter
from exchange.audit.models import AuditArchive
from exchange.audit.settings import AuditSettings
from exchange.audit.verify import verify_bundle
from protocol.clock import utcnow

E, CP = store.E, store.CP


@dataclass(frozen=True)
class Archived:
    """One archive file written."""

    path: Path
    first_seq: int
    last_seq: int
    records: int
    sha256: str


def archivable_range(engine: Engine, *, cutoff: datetime) -> tuple[int, int] | None:
    """The whole checkpoint ranges, from the oldest online, in which every record is older than cutoff."""
    with engine.connect() as conn:
        young = conn.execute(select(func.min(E.seq)).where(E.time >= cutoff)).scalar()
        stmt = select(CP.c.first_seq, CP.c.last_seq).order_by(CP.c.first_seq)
        if young is not None:
            stmt = stmt.where(CP.c.last_seq < young)
        spans = conn.execute(stmt).all()
    if not spans:
        return None
    return spans[0].first_seq, spans[-1].last_seq


def archive(engine: Engine, *, settings: AuditSettings, now: datetime | None = None) -> Archived | None:
    """Move what is past retention into one archive bundle; nothing is deleted unless it verifies."""
    cutoff = (now or utcnow()) - timedelta(days=settings.retention_days)
    span = archivable_range(engine, cutoff=cutoff)
    if span is None:
        return None
    first, last = span
    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    path = settings.archive_dir / f"audit-{first:012d}-{last:012d}.zip"
    partial = path.with_suffix(".zip.partial")
    manifest = export.write_bundle(engine, ExportFilter(seq_from=first, seq_to=last), partial)
    # Verified against the sealing key's public half or the configured pins, not the database's keys.
    report = verify_bundle(partial, pinned=settings.gateway_pins())
    if not report.ok or manifest["first_seq"] != first or manifest["last_seq"] != last:
        partial.unlink()
        raise RuntimeError(f"the archive of seq {first}..{last} does not verify: {report.problem}")
    partial.rename(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with engine.begin() as conn:
        last_hash = conn.execute(select(E.hash).where(E.seq == last)).scalar_one()
        # The online records continue the log-wide tree of the archived ones: keep its frontier.
        frontier = conn.execute(select(CP.c.frontier).where(CP.c.last_seq == last)).scalar()
        conn.execute(
            insert(AuditArchive),
            {
                "first_seq": first,
                "last_seq": last,
                "last_hash": last_hash,
                "path": str(path),
                "sha256": digest,
                "created_at": utcnow(),
                "frontier": frontier,
            },
        )
        conn.execute(delete(CP).where(CP.c.first_seq >= first, CP.c.last_seq <= last))
        conn.execute(delete(store.AuditEntry).where(E.seq >= first, E.seq <= last))
    return Archived(path, first, last, manifest["records"], digest)
