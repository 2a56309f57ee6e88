"""Audit read services: search, one record's inclusion proof, filters from what an officer types."""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from exchange.audit import checkpoint, store
from exchange.audit.export import ExportFilter
from exchange.crypto import PlatformKeys
from protocol.errors import InvalidRequest, NotFound
from protocol.identifiers import InvalidSubjectId, SubjectType, normalise_subject_id
from protocol.reasons import Reason
from registry.errors import Forbidden

E, CP = store.E, store.CP
ALL_DEPARTMENTS_SCOPE = "audit:read:all"


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads the audit log: a department's officer (its own records) or the platform's (every one)."""

    department: str | None
    all_departments: bool = False


def scoped(f: ExportFilter, reader: Reader) -> ExportFilter:
    """The filter narrowed to what this reader may see: a department officer sees its own department only.

    `audit:read` alone is a department's officer: records whose acting department is its own (asking
    for another department is `403 forbidden`, not an empty page, so the attempt is on the chain).
    `audit:read:all`, granted by a steward only, is the platform security officer (docs/security.md).
    """
    if reader.all_departments:
        return f
    if reader.department is None:
        raise Forbidden("an audit reader without a department sees nothing")
    if f.department is not None and f.department != reader.department:
        raise Forbidden(
            f"audit:read shows department {reader.department!r}'s records only; "
            f"{f.department[:32]!r} needs audit:read:all"
        )
    return replace(f, department=reader.department)


def make_filter(
    *,
    keys: PlatformKeys,
    subject_type: SubjectType | None = None,
    subject_id: str | None = None,
    **fields: Any,
) -> ExportFilter:
    """An export filter; a subject identifier is turned into its blind index (never stored or sent on)."""
    if (subject_type is None) != (subject_id is None):
        raise InvalidRequest("subject_type and subject_id go together")
    index = None
    if subject_type is not None and subject_id is not None:
        try:
            index = keys.blind_index(subject_type, normalise_subject_id(subject_type, subject_id))
        except InvalidSubjectId as exc:
            raise InvalidRequest(exc.detail, reason=Reason.INVALID_SUBJECT_ID) from exc
    time_from: datetime | None = fields.get("time_from")
    time_to: datetime | None = fields.get("time_to")
    if time_from is not None and time_to is not None and time_to <= time_from:
        raise InvalidRequest("time_to must be after time_from")
    return ExportFilter(subject_index=index, **fields)


def search(*, engine: Engine, f: ExportFilter, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Records matching the filter after a seq, oldest first (sealed or not: search shows everything)."""
    stmt = select(E).where(E.seq > after_seq)
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
        stmt = stmt.where(E.elements.contains(f'"{f.element}"', autoescape=True))
    if f.time_from is not None:
        stmt = stmt.where(E.time >= f.time_from)
    if f.time_to is not None:
        stmt = stmt.where(E.time < f.time_to)
    if f.seq_to is not None:
        stmt = stmt.where(E.seq <= f.seq_to)
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(E.seq).limit(limit))
        return [store.record_from_row(r) for r in rows]


def proof(*, engine: Engine, seq: int, reader: Reader | None = None) -> dict[str, Any]:
    """One record, the signed checkpoint covering it, and its Merkle inclusion proof.

    With a `reader`, a department's officer gets only its own department's records (else `forbidden`).
    """
    with engine.connect() as conn:
        row = conn.execute(select(E).where(E.seq == seq)).first()
        if row is None:
            raise NotFound(f"no audit record with seq {seq} online (it may be archived)")
        if reader is not None and not reader.all_departments and row.actor_department != reader.department:
            raise Forbidden(f"audit record {seq} is not of department {reader.department!r}")
        cp_row = conn.execute(select(CP).where(CP.c.first_seq <= seq, CP.c.last_seq >= seq).limit(1)).first()
        if cp_row is None:
            raise NotFound(f"audit record {seq} is not yet covered by a signed checkpoint; retry shortly")
        cp = store.checkpoint_from_row(cp_row)
        hashes = list(
            conn.execute(
                select(E.hash).where(E.seq >= cp["first_seq"], E.seq <= cp["last_seq"]).order_by(E.seq)
            ).scalars()
        )
    index = seq - cp["first_seq"]
    return {
        "record": store.record_from_row(row),
        "checkpoint": cp,
        "leaf_index": index,
        "tree_size": len(hashes),
        "path": checkpoint.inclusion_proof(hashes, index),
    }


def public_keys(*, engine: Engine) -> list[dict[str, str]]:
    """Every audit public key (PEM) with its key id."""
    from exchange.audit.models import AuditKey

    with engine.connect() as conn:
        rows = conn.execute(
            select(col(AuditKey.kid), col(AuditKey.public_key_pem)).order_by(col(AuditKey.created_at))
        )
        return [{"kid": r.kid, "public_key_pem": r.public_key_pem} for r in rows]
