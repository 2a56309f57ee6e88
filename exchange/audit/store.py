"""Appending to the chain in the database, and reading it back as records.

Every writer (the embedded group-commit writer, the Kafka sealer) appends through `append`, which
locks the single chain-head row first: however many writers run, the chain stays one line.
"""

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from exchange.audit import chain, checkpoint
from exchange.audit.keys import AuditKeyPair, public_pem
from exchange.audit.models import AuditChainHead, AuditCheckpoint, AuditEntry, AuditKey
from protocol.clock import utcnow

E = AuditEntry.__table__.c  # type: ignore[attr-defined]
HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]
CP = AuditCheckpoint.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CheckpointPolicy:
    """When to sign a checkpoint: after `every` records or `interval_s` seconds, whichever first."""

    every: int = 1000
    interval_s: float = 60.0


def body_from_row(row: Mapping[str, Any], *, time: datetime | None = None) -> dict[str, Any]:
    """A record body from a query-flow audit row (`QueryContext.row`): what the chain hashes."""
    elements = row.get("elements") or []
    return {
        "time": chain.format_time(time or utcnow()),
        "event_id": row.get("event_id") or uuid.uuid4().hex,
        "gateway": row.get("gateway"),
        "actor_department": row.get("actor"),
        "actor_system": row.get("actor_system"),
        "actor_user": row.get("actor_user"),
        "action": row.get("action"),
        "subject_index": row.get("subject_index"),
        "elements": json.loads(elements) if isinstance(elements, str) else list(elements),
        "service_item": row.get("service_item"),
        "case_no": row.get("case_no"),
        "decision": row.get("decision"),
        "reason": row.get("reason"),
        "source": row.get("source"),
        "request_id": row.get("query_id"),
        "response_digest": row.get("response_digest"),
    }


def columns_of(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seq": record["seq"],
        "time": chain.parse_time(record["time"]),
        "event_id": record["event_id"],
        "gateway": record["gateway"],
        "actor": record["actor_department"],
        "actor_system": record["actor_system"],
        "actor_user": record["actor_user"],
        "action": record["action"],
        "subject_index": record["subject_index"],
        "elements": json.dumps(record["elements"], ensure_ascii=False),
        "service_item": record["service_item"],
        "case_no": record["case_no"],
        "decision": record["decision"],
        "reason": record["reason"],
        "source": record["source"],
        "query_id": record["request_id"],
        "response_digest": record["response_digest"],
        "prev_hash": record["prev_hash"],
        "hash": record["hash"],
    }


def record_from_row(row: Any) -> dict[str, Any]:
    """A record as stored (never recomputed: verification must see what the database holds)."""
    m = row._mapping
    return {
        "seq": m["seq"],
        "time": chain.format_time(m["time"]),
        "event_id": m["event_id"],
        "gateway": m["gateway"],
        "actor_department": m["actor"],
        "actor_system": m["actor_system"],
        "actor_user": m["actor_user"],
        "action": m["action"],
        "subject_index": m["subject_index"],
        "elements": json.loads(m["elements"]),
        "service_item": m["service_item"],
        "case_no": m["case_no"],
        "decision": m["decision"],
        "reason": m["reason"],
        "source": m["source"],
        "request_id": m["query_id"],
        "response_digest": m["response_digest"],
        "prev_hash": m["prev_hash"],
        "hash": m["hash"],
    }


def ensure_key(conn: Connection, key: AuditKeyPair) -> None:
    """Publish the audit key's public half in the database (exports ship it)."""
    if conn.execute(select(AuditKey.kid).where(AuditKey.kid == key.kid)).first() is None:  # type: ignore[arg-type]
        conn.execute(insert(AuditKey), {"kid": key.kid, "public_key_pem": public_pem(key.public)})


def append(
    conn: Connection,
    bodies: Sequence[Mapping[str, Any]],
    *,
    key: AuditKeyPair,
    policy: CheckpointPolicy,
) -> list[dict[str, Any]]:
    """Chain and insert bodies not yet in the log (by event_id); sign a checkpoint when due."""
    head = conn.execute(select(HEAD).where(HEAD.c.id == 1).with_for_update()).one()
    ids = [b["event_id"] for b in bodies]
    seen = set()
    # Exactly-once effect: a redelivered event (sealer restart before its offset commit) is dropped.
    for i in range(0, len(ids), 500):
        seen |= set(conn.execute(select(E.event_id).where(E.event_id.in_(ids[i : i + 500]))).scalars())
    fresh, batch_ids = [], set()
    for b in bodies:
        if b["event_id"] not in seen and b["event_id"] not in batch_ids:
            fresh.append(b)
            batch_ids.add(b["event_id"])
    records = list(chain.seal_all(fresh, head_seq=head.seq, head_hash=head.hash))
    if records:
        conn.execute(insert(AuditEntry), [columns_of(r) for r in records])
        conn.execute(
            update(HEAD).where(HEAD.c.id == 1).values(seq=records[-1]["seq"], hash=records[-1]["hash"])
        )
    maybe_checkpoint(conn, key=key, policy=policy)
    return records


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
    cp = checkpoint.make(
        first_seq=first, last_seq=head.seq, hashes=hashes, time=chain.format_time(now), key=key
    )
    conn.execute(insert(CP), {**cp, "time": now})
    conn.execute(update(HEAD).where(HEAD.c.id == 1).values(checkpoint_seq=head.seq, checkpoint_time=now))
    return cp


def checkpoint_from_row(row: Any) -> dict[str, Any]:
    """A checkpoint as stored."""
    m = dict(row._mapping)
    m["time"] = chain.format_time(m["time"])
    return m


def iter_records(conn: Connection, stmt: Any, *, chunk: int = 2000) -> Iterator[dict[str, Any]]:
    """Stream a select of audit_entry rows as records, chunk by chunk (never the whole range)."""
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
    for row in result:
        yield record_from_row(row)
