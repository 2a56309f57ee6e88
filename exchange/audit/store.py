"""Appending to the chain in the database, and reading it back as records.

Every writer (the embedded group-commit writer, the Kafka sealer) appends through `append`, which
locks the single chain-head row first: however many writers run, the chain stays one line.
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from exchange.audit import chain, checkpoint, merkle
from exchange.audit.events import AuditRecord
from exchange.audit.keys import AuditKeyPair, public_pem
from exchange.audit.models import (
    AuditArchive,
    AuditChainHead,
    AuditCheckpoint,
    AuditEntry,
    AuditKey,
)
from protocol.clock import utcnow

# SQLModel's typing does not declare the `__table__` SQLAlchemy gives each table class, hence the ignores.
E = AuditEntry.__table__.c  # type: ignore[attr-defined]
HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]
CP = AuditCheckpoint.__table__  # type: ignore[attr-defined]
KEYS = AuditKey.__table__  # type: ignore[attr-defined]
ARCHIVE = AuditArchive.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CheckpointPolicy:
    """When to sign a checkpoint: after `every` records or `interval_s` seconds, whichever first."""

    every: int = 1000
    interval_s: float = 60.0


def columns_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The audit_entry columns of a sealed record: the same names; time and elements in their column form."""
    columns = {f: record[f] for f in chain.RECORD_FIELDS}
    columns["time"] = chain.parse_time(record["time"])
    columns["elements"] = json.dumps(record["elements"], ensure_ascii=False)
    return columns


def record_from_row(row: Any) -> dict[str, Any]:
    """A record as stored (never recomputed: verification must see what the database holds)."""
    m = row._mapping
    record = {f: m[f] for f in chain.RECORD_FIELDS}
    record["time"] = chain.format_time(m["time"])
    record["elements"] = json.loads(m["elements"])
    return record


def ensure_key(conn: Connection, key: AuditKeyPair) -> None:
    """Publish the audit key's public half in the database (exports ship it)."""
    if conn.execute(select(KEYS.c.kid).where(KEYS.c.kid == key.kid)).first() is None:
        conn.execute(insert(AuditKey), {"kid": key.kid, "public_key_pem": public_pem(key.public)})


def append(
    conn: Connection,
    records: Sequence[AuditRecord],
    *,
    key: AuditKeyPair,
    policy: CheckpointPolicy,
) -> list[dict[str, Any]]:
    """Chain and insert records not yet in the log (by event_id); sign a checkpoint when due."""
    head = conn.execute(select(HEAD).where(HEAD.c.id == 1).with_for_update()).one()
    ids = [r.event_id for r in records]
    seen = set()
    # Exactly-once effect: a redelivered event (sealer restart before its offset commit) is dropped.
    for i in range(0, len(ids), 500):
        seen |= set(conn.execute(select(E.event_id).where(E.event_id.in_(ids[i : i + 500]))).scalars())
    fresh, batch_ids = [], set()
    for r in records:
        if r.event_id not in seen and r.event_id not in batch_ids:
            fresh.append(r)
            batch_ids.add(r.event_id)
    sealed = list(chain.seal_all(fresh, head_seq=head.seq, head_hash=head.hash))
    if sealed:
        conn.execute(insert(AuditEntry), [columns_of(r) for r in sealed])
        conn.execute(
            update(HEAD).where(HEAD.c.id == 1).values(seq=sealed[-1]["seq"], hash=sealed[-1]["hash"])
        )
    maybe_checkpoint(conn, key=key, policy=policy)
    return sealed


def maybe_checkpoint(
    conn: Connection, *, key: AuditKeyPair, policy: CheckpointPolicy, force: bool = False
) -> dict[str, Any] | None:
    """Sign a checkpoint over the records since the last one, when due (call inside the head lock)."""
    head = conn.execute(select(HEAD).where(HEAD.c.id == 1).with_for_update()).one()
    pending = head.seq - head.checkpoint_seq
    if pending <= 0:
        return None
    now = utcnow()
    last_time = (
        head.checkpoint_time
        if head.checkpoint_time.tzinfo
        else head.checkpoint_time.replace(tzinfo=now.tzinfo)
    )
    due = pending >= policy.every or now - last_time >= timedelta(seconds=policy.interval_s)
    if not (due or force):
        return None
    ensure_key(conn, key)
    first = head.checkpoint_seq + 1
    hashes = list(
        conn.execute(select(E.hash).where(E.seq >= first, E.seq <= head.seq).order_by(E.seq)).scalars()
    )
    tree = frontier_at(conn, head.checkpoint_seq)
    if tree is not None:
        tree.extend(checkpoint.leaves(hashes))
    cp = checkpoint.make(
        first_seq=first, last_seq=head.seq, hashes=hashes, time=chain.format_time(now), key=key,
        tree_root=tree.root().hex() if tree is not None else None,
    )  # fmt: skip
    frontier = json.dumps(tree.to_json()) if tree is not None else None
    conn.execute(insert(CP), {**cp, "time": now, "frontier": frontier})
    conn.execute(update(HEAD).where(HEAD.c.id == 1).values(checkpoint_seq=head.seq, checkpoint_time=now))
    return cp


def frontier_at(conn: Connection, size: int, *, rebuild: bool = True) -> merkle.Frontier | None:
    """The log-wide tree of records 1..size, or None when it cannot be known any more.

    From the checkpoint (or archive) ending at `size`; else, with `rebuild`, from the records when all
    of them are online (a log upgraded from before tree roots). Archived without a frontier: unknown.
    """
    if size == 0:
        return merkle.Frontier()
    for table in (CP, ARCHIVE):
        kept = conn.execute(select(table.c.frontier).where(table.c.last_seq == size)).scalar()
        if kept:
            return merkle.Frontier.from_json(json.loads(kept))
    if not rebuild:
        return None
    # Rebuild only when the records from seq 1 are online (checked on the index first): with older
    # ones archived before tree roots existed, it can never be rebuilt, so do not scan for it each time.
    if conn.execute(select(func.min(E.seq))).scalar() != 1:
        return None
    hashes = list(conn.execute(select(E.hash).where(E.seq <= size).order_by(E.seq)).scalars())
    if len(hashes) != size:
        return None
    return merkle.Frontier().extend(checkpoint.leaves(hashes))


def checkpoint_from_row(row: Any) -> dict[str, Any]:
    """A checkpoint as stored (without its frontier, which is not part of the signed statement)."""
    m = dict(row._mapping)
    m.pop("frontier", None)
    m.pop("cosignatures", None)  # added as a list by whoever ships them (exchange/audit/export.py)
    if m.get("tree_root") is None:
        m.pop("tree_root", None)  # a checkpoint from before tree roots has the six signed fields only
    m["time"] = chain.format_time(m["time"])
    return m


def cosignatures_of(conn: Connection, last_seqs: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The witness co-signatures stored with these checkpoints, by checkpoint."""
    out: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(last_seqs), 500):
        part = list(last_seqs[i : i + 500])
        rows = conn.execute(select(CP.c.last_seq, CP.c.cosignatures).where(CP.c.last_seq.in_(part)))
        for seq, kept in rows:
            out[seq] = json.loads(kept) if kept else []
    return out


def newest_cosigned(conn: Connection) -> int | None:
    """The tree size of the newest checkpoint a witness co-signed."""
    return conn.execute(select(func.max(CP.c.last_seq)).where(CP.c.cosignatures.is_not(None))).scalar()


def iter_records(conn: Connection, stmt: Any, *, chunk: int = 2000) -> Iterator[dict[str, Any]]:
    """Stream a select of audit_entry rows as records, chunk by chunk (never the whole range)."""
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
    for row in result:
        yield record_from_row(row)
