"""The checks every fault ends with, and the table of figures they fill (tests/artifacts/reliability.md).

1. every query got a terminal answer; 2. no wrong value (answers decrypted and verified with the
consumer SDK, compared with the department databases); 3. every event on the audit topic is sealed,
once; 4. every request sent to a source and every reply a source sent has its sealed
`source.dispatched`; 5. at most one `query.released` per query_id; 6. `shuyuan audit verify` passes.
"""

import base64
import json
import random
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import create_engine, text

from connectors import keys as department_keys
from connectors.client import ConsumerClient
from connectors.client_auth import TokenAuth
from protocol.topics import DEFAULT as NAMES
from tests.faultkit import ROOT, Exchange, sample_config
from tests.faultload import ELEMENTS, Outcome, token_source

SOURCES = ("psb", "hrss")
SEALER_GROUP = NAMES.sealer_group  # the private broker holds one deployment: the default names
VERIFY_SAMPLE = 60  # complete answers decrypted and checked per fault (all of them is too slow)
REPORT = ROOT / "tests" / "artifacts" / "reliability.md"


# --- 1. terminal answers -------------------------------------------------------------------------


def acceptable(o: Outcome) -> bool:
    """A terminal answer a fault may cause: complete, partial, or a 503 naming its reason."""
    if o.kind in ("complete", "partial"):
        return True
    return o.kind == "problem" and o.status_code == 503 and bool(o.reason)


def kinds(outcomes: Iterable[Outcome]) -> Counter[str]:
    """How many outcomes of each kind, problems by status and reason (`503:audit_unavailable`)."""
    return Counter(f"{o.status_code}:{o.reason}" if o.kind == "problem" else o.kind for o in outcomes)


# --- 2. right values -----------------------------------------------------------------------------


def _element_sql() -> dict[str, tuple[str, str, str | None]]:
    """Element code -> (department, SQL, value type), from the sample connectors' YAML."""
    out = {}
    for dept in SOURCES:
        for code, spec in sample_config(dept)["elements"].items():
            out[code] = (dept, spec["sql"], spec.get("value_type"))
    return out


def expected_value(departments: Path, code: str, subject: str) -> Any:
    """What the source department's database holds for one element of one subject."""
    dept, sql, value_type = _element_sql()[code]
    with sqlite3.connect(departments / f"{dept}.sqlite") as conn:
        row = conn.execute(sql.replace(":subject_id", "?"), (subject,)).fetchone()
    value = row[0] if row else None
    if value_type == "json" and isinstance(value, str):
        return json.loads(value)
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-9
    return bool(a == b)


def wrong_answers(exchange: Exchange, outcomes: list[Outcome], sample: int = VERIFY_SAMPLE) -> list[str]:
    """Decrypt and verify a sample of the 200 answers; a description of each wrong one."""
    answered = [o for o in outcomes if o.answer is not None]
    chosen = random.sample(answered, min(sample, len(answered)))
    keys = department_keys.load(exchange.work / "keys" / "departments" / "zjj", "zjj")
    wrong = []
    with httpx.Client(base_url=exchange.url, timeout=30) as http:
        client = ConsumerClient(http, keys=keys, auth=TokenAuth(token_source(exchange.url, exchange.work)))
        for o in chosen:
            assert o.answer is not None
            subject = o.body["subject"]["id"]
            opened = client.open(o.answer, subject_type="person", subject_id=subject)
            if opened.query_id != o.query_id or [r.code for r in opened.results] != ELEMENTS:
                wrong.append(f"{o.query_id}: answer for {opened.query_id} {[r.code for r in opened.results]}")
            if o.kind == "complete" and opened.status != "complete":
                wrong.append(f"{o.query_id}: rejected by the SDK {[r.as_dict() for r in opened.results]}")
            for r in opened.results:
                want = expected_value(exchange.work / "departments", r.code, subject)
                if r.status == "ok" and not _same(r.value, want):
                    wrong.append(f"{o.query_id} {r.code}: got {r.value!r}, the source holds {want!r}")
    return wrong


# --- 3-5. the audit trail ------------------------------------------------------------------------


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of a topic, from the beginning (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], group_id=None, enable_auto_commit=False)
    try:
        consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def jws_payload(value: bytes) -> dict[str, Any]:
    """The payload of a JWS compact, unverified (the gateway and the sources verify; we only count)."""
    part = value.split(b".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))))


def published_event_ids(bootstrap: str) -> list[str]:
    """The event id of every audit event on the audit topic."""
    return [json.loads(r.value)["event_id"] for r in read_topic(bootstrap, NAMES.audit_topic)]


def sealed_event_ids(database_url: str) -> Counter[str]:
    """How often each event id is in audit_entry."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT event_id FROM audit_entry WHERE event_id IS NOT NULL"))
            return Counter(str(r[0]) for r in rows)
    finally:
        engine.dispose()


def wait_sealed(bootstrap: str, database_url: str, timeout_s: float = 60) -> tuple[int, int, int]:
    """Wait until every published event is sealed; (published, sealed of those, sealed twice)."""
    published = set(published_event_ids(bootstrap))
    deadline = time.monotonic() + timeout_s
    while True:
        sealed = sealed_event_ids(database_url)
        done = sum(1 for e in published if e in sealed)
        if done == len(published) or time.monotonic() > deadline:
            return len(published), done, sum(1 for n in sealed.values() if n > 1)
        time.sleep(0.5)


def unaudited_accesses(bootstrap: str, database_url: str) -> list[str]:
    """Requests sent to a source, and replies a source sent, without a sealed source.dispatched.

    Read in causal order while traffic may still flow: replies, then the requests (each reply's is
    already there), then the audit topic until sealed (each request's dispatch was acknowledged on it
    before the request went out), then the database.
    """
    replies = [jws_payload(r.value) for r in read_topic(bootstrap, NAMES.reply_topic)]
    requests: dict[str, tuple[str, str]] = {}  # message id -> (query id, source)
    for dept in SOURCES:
        for r in read_topic(bootstrap, NAMES.request_topic(dept)):
            p = jws_payload(r.value)
            requests[p["message_id"]] = (p["query_id"], p["source"])
    wait_sealed(bootstrap, database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            sql = "SELECT request_id, source FROM audit_entry WHERE action = 'source.dispatched'"
            rows = conn.execute(text(sql))
            dispatched = {(str(a), str(b)) for a, b in rows}
    finally:
        engine.dispose()
    missing = [f"request {m} {q}->{s}" for m, (q, s) in requests.items() if (q, s) not in dispatched]
    for p in replies:
        asked = requests.get(p["correlation_id"])
        if asked is None:
            missing.append(f"reply {p['message_id']} from {p['source']} to an unknown request")
        elif asked not in dispatched or asked[1] != p["source"]:
            missing.append(f"reply {p['message_id']} from {p['source']} for {asked}: no dispatch")
    return missing


def duplicate_releases(database_url: str) -> int:
    """query_ids with more than one sealed query.released."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            sql = (
                "SELECT count(*) FROM (SELECT request_id FROM audit_entry WHERE action = 'query.released' "
                "GROUP BY request_id HAVING count(*) > 1) d"
            )
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def sealer_caught_up(bootstrap: str, target: dict[TopicPartition, int]) -> bool:
    """Has the sealer's group committed at least `target` on every audit partition?"""
    # A consumer that never subscribes does not join the group: it only reads the group's offsets.
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], group_id=SEALER_GROUP, enable_auto_commit=False)
    try:
        return all((consumer.committed(tp) or 0) >= end for tp, end in target.items())
    finally:
        consumer.close(autocommit=False)


def audit_end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    """The audit topic's end offsets now."""
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], group_id=None)
    try:
        consumer.topics()
        numbers = consumer.partitions_for_topic(NAMES.audit_topic) or ()
        partitions = [TopicPartition(NAMES.audit_topic, p) for p in numbers]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


# --- 6. the chain --------------------------------------------------------------------------------


def verify_chain(exchange: Exchange, name: str, since: datetime | None = None) -> tuple[bool, str]:
    """Export the audit log (the records since `since`, or all) and verify it against the pinned
    audit key (`shuyuan audit verify`): a range is checked link by link and by inclusion proofs."""
    bundle = exchange.work / f"audit-{name}.zip"
    window = ["--from", since.isoformat()] if since is not None else []
    url = exchange.services.database_url
    done = exchange.shuyuan("audit", "export", "--out", str(bundle), "--database-url", url, *window)
    if done.returncode != 0:
        return False, f"export failed: {done.stdout}{done.stderr}"
    key = exchange.audit_key_dir / "audit-ed25519.pub.pem"
    done = exchange.shuyuan("audit", "verify", str(bundle), "--audit-key", str(key))
    bundle.unlink(missing_ok=True)
    return done.returncode == 0, (done.stdout + done.stderr)[-2000:]


# --- the figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """When a fault's test began: monotonic (durations) and wall clock (the audit records' time)."""

    mono: float
    wall: datetime

    @classmethod
    def now(cls) -> "Start":
        """Now."""
        return cls(time.monotonic(), datetime.now(UTC))


@dataclass
class FaultRow:
    """One fault's figures: a row of tests/artifacts/reliability.md."""

    fault: str
    sent: int
    complete: int
    partial: int
    unavailable: int  # 503 with a reason code
    lost: int  # the connection broke with the query in flight (no answer)
    refused: int  # the gateway was not listening: never accepted
    hung: int
    other: int  # any other answer (500, 4xx): a failure
    wrong: int
    checked: int  # answers decrypted and compared
    unaudited: int
    duplicate_releases: int
    published: int
    sealed: int
    sealed_twice: int
    max_latency_s: float
    takeover_s: float | None
    chain_ok: bool
    seconds: float  # wall time of the test
    notes: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The row in the markdown table."""
        takeover = "–" if self.takeover_s is None else f"{self.takeover_s:.1f}"
        cells = [
            self.fault, self.sent, self.complete, self.partial, self.unavailable, self.lost, self.refused,
            self.hung + self.other, f"{self.wrong}/{self.checked}", self.unaudited, self.duplicate_releases,
            f"{self.sealed}/{self.published}", f"{self.max_latency_s:.1f}", takeover,
            "ok" if self.chain_ok else "BROKEN", f"{self.seconds:.0f}", self.notes,
        ]  # fmt: skip
        return "| " + " | ".join(str(c) for c in cells) + " |"


HEADER = (
    "| fault | sent | complete | partial | 503 | lost in flight | refused | hang/other | wrong/checked "
    "| unaudited accesses | duplicate releases | sealed/published | max latency s | takeover s | chain "
    "| test s | notes |\n|" + "---|" * 17
)


def start_report(commit: str) -> None:
    """A fresh report for this run."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    REPORT.write_text(f"# Fault suite run {when}, commit {commit}\n\n{HEADER}\n", encoding="utf-8")


def record(row: FaultRow) -> None:
    """Append a row, and its details as JSON below the table's file (tests/artifacts/reliability.jsonl)."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    if not REPORT.exists():
        REPORT.write_text(f"{HEADER}\n", encoding="utf-8")
    with REPORT.open("a", encoding="utf-8") as f:
        f.write(row.line() + "\n")
    with REPORT.with_suffix(".jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(row), default=str) + "\n")


def measure(
    exchange: Exchange,
    fault: str,
    outcomes: list[Outcome],
    *,
    started: "Start",
    takeover_s: float | None,
    notes: str = "",
) -> FaultRow:
    """Run checks 1-6 over a fault's outcomes, the whole audit trail so far and the chain of the
    records sealed since the fault's start; record the row."""
    bootstrap, db = exchange.services.bootstrap, exchange.services.database_url
    clock = [time.monotonic()]

    def lap() -> float:
        clock.append(time.monotonic())
        return round(clock[-1] - clock[-2], 1)

    published, sealed, twice = wait_sealed(bootstrap, db)
    laps = {"sealed": lap()}
    unaudited = unaudited_accesses(bootstrap, db)
    laps["unaudited"] = lap()
    chain_ok, chain_out = verify_chain(exchange, fault.split()[0], started.wall)
    laps["chain"] = lap()
    wrong = wrong_answers(exchange, outcomes)
    laps["wrong"] = lap()
    count = kinds(outcomes)
    row = FaultRow(
        fault=fault,
        sent=len(outcomes),
        complete=count["complete"],
        partial=count["partial"],
        unavailable=sum(1 for o in outcomes if o.kind == "problem" and acceptable(o)),
        lost=count["lost"],
        refused=count["refused"],
        hung=count["hang"],
        other=sum(1 for o in outcomes if o.kind == "problem" and not acceptable(o)),
        wrong=len(wrong),
        checked=min(VERIFY_SAMPLE, sum(1 for o in outcomes if o.answer is not None)),
        unaudited=len(unaudited),
        duplicate_releases=duplicate_releases(db),
        published=published,
        sealed=sealed,
        sealed_twice=twice,
        max_latency_s=max((o.latency_s for o in outcomes), default=0.0),
        takeover_s=takeover_s,
        chain_ok=chain_ok,
        seconds=time.monotonic() - started.mono,
        notes=notes,
        details={
            "kinds": dict(count),
            "lost": dict(Counter(o.reason for o in outcomes if o.kind == "lost")),
            "check_seconds": laps,
            "wrong": wrong[:10],
            "unaudited": unaudited[:10],
            "chain": chain_out if not chain_ok else chain_out.splitlines()[0] if chain_out else "",
        },
    )
    record(row)
    return row


def takeover_after(outcomes: list[Outcome], t: float) -> float | None:
    """Seconds from t to the first complete answer to a query sent at or after t."""
    done = [o.finished_at - t for o in outcomes if o.kind == "complete" and o.sent_at >= t]
    return min(done) if done else None


def git_commit() -> str:
    """The worktree's commit (with `+dirty` when it has changes)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    )
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
