"""The hash chain of audit records (DESIGN.md §9): pure functions, no database, no framework.

A record is a flat JSON object of the fields in `RECORD_FIELDS`. A body (the record without seq,
prev_hash and hash) is given as a mapping or as an object with a `body()` mapping, e.g. the typed
`AuditRecord` of exchange/audit/events.py: the chain canonicalises the same JSON either way. Its hash is
SHA-256 over the RFC 8785 (JCS) canonical JSON of every field except `hash` itself; `prev_hash`
is one of those fields, so each hash covers the record plus the previous record's hash. The first
record of the log links to `GENESIS`.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import rfc8785

GENESIS = "0" * 64
# The order is the CSV column order; the hash does not depend on it (JCS sorts keys).
RECORD_FIELDS = (
    "seq",
    "time",
    "event_id",
    "gateway",
    "actor_department",
    "actor_system",
    "actor_user",
    "action",
    "subject_index",
    "elements",
    "service_item",
    "case_no",
    "decision",
    "reason",
    "source",
    "request_id",
    "response_digest",
    "prev_hash",
    "hash",
)
_HASHED = tuple(f for f in RECORD_FIELDS if f != "hash")


class HasBody(Protocol):
    """A typed record body (exchange/audit/events.py `AuditRecord`): its JSON values by field name."""

    def body(self) -> Mapping[str, Any]: ...


Body = Mapping[str, Any] | HasBody


def format_time(value: datetime) -> str:
    """The one text form of a record's time: UTC, microseconds, `Z` (what the databases round-trip)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite hands back naive times; they were stored as UTC
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """The aware datetime of a record's time text."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def canonical(record: Mapping[str, Any]) -> bytes:
    """The RFC 8785 canonical JSON of the hashed part of a record (every field but `hash`)."""
    return rfc8785.dumps({f: record.get(f) for f in _HASHED})


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over the canonical JSON of the record, which includes its `prev_hash`."""
    return hashlib.sha256(canonical(record)).hexdigest()


def seal(body: Body, *, seq: int, prev_hash: str) -> dict[str, Any]:
    """Give a record body its place in the chain: seq, prev_hash and hash."""
    fields = body if isinstance(body, Mapping) else body.body()
    record = {f: fields.get(f) for f in _HASHED}
    record["seq"] = seq
    record["prev_hash"] = prev_hash
    record["elements"] = list(record["elements"] or [])
    record["hash"] = record_hash(record)
    return record


def seal_all(bodies: Iterable[Body], *, head_seq: int, head_hash: str) -> Iterator[dict[str, Any]]:
    """Chain bodies after the head (seq, hash) of the log, in order."""
    seq, prev = head_seq, head_hash
    for body in bodies:
        seq += 1
        record = seal(body, seq=seq, prev_hash=prev)
        prev = record["hash"]
        yield record


def to_json_line(record: Mapping[str, Any]) -> str:
    """A record as one line of JSON Lines (fields in the documented order)."""
    return json.dumps({f: record.get(f) for f in RECORD_FIELDS}, ensure_ascii=False, separators=(",", ":"))
