"""Per-operation costs of the query path, measured one by one (CPU time of the calling thread, and wall).

What the end-to-end benchmark cannot say on its own: how many milliseconds of CPU each step of
one query costs, so the levers can be ranked. Runs against a throw-away PostgreSQL database
(`bench_micro_<random>`, dropped at the end) for the database steps.

    eval "$(deploy/services.sh env)"
    .venv/bin/python bench/micro.py [--json out.json]

Measures the code on sys.path (PYTHONPATH=DIR to measure a snapshot made by query_bench --ref).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_DB_URL = "postgresql+psycopg://shuyuan:shuyuan@127.0.0.1:54329/shuyuan_test"


def measure(fn: Callable[[], Any], *, n: int, warmup: int = 20) -> dict[str, float]:
    """Mean CPU (thread) and wall microseconds per call."""
    for _ in range(warmup):
        fn()
    c0, w0 = time.thread_time(), time.perf_counter()
    for _ in range(n):
        fn()
    c1, w1 = time.thread_time(), time.perf_counter()
    return {"cpu_us": round(1e6 * (c1 - c0) / n, 1), "wall_us": round(1e6 * (w1 - w0) / n, 1), "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=os.environ.get("SHUYUAN_TEST_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from connectors.samples.data import sample_subjects
    from exchange.audit import keys as audit_keys
    from exchange.audit.events import AuditAction
    from exchange.audit.writer import AuditWriter
    from exchange.crypto import PlatformKeys
    from exchange.queries import service as qs
    from exchange.queries.models import QueryIn, QueryOut, idempotency_record
    from protocol.envelope import ElementAnswer, ReplyAddress, SourceReply, SourceRequest
    from protocol.topics import DEFAULT
    from registry import db

    results: dict[str, dict[str, float]] = {}

    def record(name: str, fn: Callable[[], Any], n: int = 2000) -> None:
        results[name] = measure(fn, n=n)
        r = results[name]
        print(f"{name:<70} cpu {r['cpu_us']:>8.1f} us   wall {r['wall_us']:>8.1f} us", flush=True)

    person = sample_subjects().demo_person
    body = {
        "query_id": "micro-000001",
        "subject": {"type": "person", "id": person},
        "elements": ["person.name", "person.household_members", "person.si_contribution_base"],
        "purpose": {"service_item": "330100-GZF-001", "case_no": "ZJJ-BENCH-1"},
        "on_behalf_of": "bench.caseworker",
        "requested_at": "2026-11-28T09:00:00+00:00",
    }
    raw = json.dumps(body).encode()
    query = QueryIn.model_validate_json(raw)
    keys = PlatformKeys(b"development-only-platform-key-change-me")

    print("-- pure CPU steps of the gateway (per call)")
    record("QueryIn.model_validate_json (request body)", lambda: QueryIn.model_validate_json(raw))
    record(
        "_request_digest (RFC 8785 canonical JSON + SHA-256)",
        lambda: qs._request_digest("zjj", query, person),
    )
    record("PlatformKeys.blind_index (HMAC-SHA256)", lambda: keys.blind_index("person", person))
    out_json = (
        '{"query_id":"micro-000001","status":"complete","results":['
        '{"code":"person.name","status":"ok","reason":null,"source":"psb","value":"张三"},'
        '{"code":"person.household_members","status":"ok","reason":null,"source":"psb","value":'
        '[{"name":"张三","relation":"户主","birth_date":"1988-04-19"},{"name":"李四","relation":"配偶",'
        '"birth_date":"1990-01-01"}]},'
        '{"code":"person.si_contribution_base","status":"ok","reason":null,"source":"hrss","value":8123.0}]}'
    )
    out = QueryOut.model_validate_json(out_json)
    body_bytes = out.model_dump_json().encode()
    record("QueryOut.model_dump_json (response)", lambda: out.model_dump_json())
    record("PlatformKeys.seal (AES-256-GCM of the answer)", lambda: keys.seal(body_bytes, context=b"ctx"))
    request = SourceRequest(
        query_id="micro-000001",
        consumer="zjj",
        source="psb",
        subject_type="person",
        # The subject travels encrypted to the source since the JOSE work: a JWE of typical size.
        subject_jwe="e" * 600,
        consumer_kid="zjj-enc",
        elements=["person.name", "person.household_members"],
        service_item="330100-GZF-001",
        case_no="ZJJ-BENCH-1",
        expires_at=datetime.now(UTC) + timedelta(seconds=30),
        reply_to=ReplyAddress(topic=DEFAULT.reply_topic, partition=0),
    )
    record("SourceRequest(...).model_dump_json (one per source)", lambda: request.model_dump_json())
    # Request signing (issue 9): the gateway signs each request, the source verifies it; the source
    # signs each reply, the gateway verifies it.
    from exchange.request_signing import RequestSigner
    from protocol.signed_messages import SeenMessages, open_reply, open_request, sign_reply

    signer = RequestSigner.from_entries(["micro-bench-request-key-0123456789abcdef"])
    pinned = signer.public_keys()
    signed = signer.sign(request)
    record("RequestSigner.sign (gateway, one per source)", lambda: signer.sign(request))

    def _verify_request() -> Any:
        return open_request(signed, gateway_keys=pinned, department="psb", reply_topic=DEFAULT.reply_topic)

    record("open_request: verify + parse (source, one per request)", _verify_request)
    record("SeenMessages.check_and_add (source replay check)", lambda: SeenMessages().check_and_add(request))
    from joserfc.jwk import OKPKey

    psb_sig = OKPKey.generate_key("Ed25519")
    signed_reply_holder: list[bytes] = []
    reply = SourceReply(
        correlation_id=request.message_id,
        source="psb",
        answers=[ElementAnswer(code="person.name", status="ok", jws_jwe="j" * 900)],
    )
    reply_json = reply.model_dump_json()
    record(
        "SourceReply.model_validate_json (one per source)",
        lambda: SourceReply.model_validate_json(reply_json),
    )
    record("sign_reply (source, one per request)", lambda: sign_reply(reply, key=psb_sig, kid="psb-sig"))
    signed_reply_holder.append(sign_reply(reply, key=psb_sig, kid="psb-sig"))
    record(
        "open_reply: verify + parse (gateway, one per source)",
        lambda: open_reply(signed_reply_holder[0], request=request, resolve={"psb-sig": psb_sig}.get),
    )
    ctx = qs.QueryContext("gw-0", "zjj", query, keys.blind_index("person", person))
    record(
        "QueryContext.record x9 (audit records of one query)",
        lambda: [ctx.record(AuditAction.ELEMENT_DECIDED, elements=["a"]) for _ in range(9)],
    )

    print("-- kafka-python")
    from kafka.record import _crc32c
    from kafka.record.util import calc_crc32c

    batch = memoryview(b"x" * 700)
    record("kafka-python CRC-32C, pure Python, 700-byte batch", lambda: _crc32c.crc(batch), n=300)
    record("calc_crc32c as installed (C if the crc32c package is present)", lambda: calc_crc32c(batch), n=300)

    print("-- PostgreSQL steps (the gateway's engine settings: pool_pre_ping=True)")
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    name = f"bench_micro_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    engines = []
    try:
        engine = db.make_engine(url)
        engines.append(engine)
        from shuyuan.app import migrate

        migrate(engine)
        fake = SimpleNamespace(_engine=engine)
        record(
            "_find_record: SQLAlchemy select, pool_pre_ping=True (as shipped)",
            lambda: qs.QueryService._find_record(fake, "zjj", f"q-{uuid.uuid4().hex}"),  # type: ignore[arg-type]
            n=1000,
        )
        no_ping = db.make_engine(url, pool_pre_ping=False)
        engines.append(no_ping)
        fake2 = SimpleNamespace(_engine=no_ping)
        record(
            "_find_record with pool_pre_ping=False",
            lambda: qs.QueryService._find_record(fake2, "zjj", f"q-{uuid.uuid4().hex}"),  # type: ignore[arg-type]
            n=1000,
        )
        import psycopg

        pg = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
        pg.autocommit = True

        def raw_lookup() -> Any:
            return pg.execute(
                "SELECT request_digest, response_sealed FROM query_record"
                " WHERE consumer = %s AND query_id = %s",
                ("zjj", f"q-{uuid.uuid4().hex}"),
                prepare=True,
            ).fetchone()

        record("same lookup, plain psycopg prepared statement (no SQLAlchemy)", raw_lookup, n=1000)

        def pending(i: int) -> Any:
            q = query.model_copy(update={"query_id": f"micro-{uuid.uuid4().hex[:20]}"})
            c = qs.QueryContext("gw-0", "zjj", q, keys.blind_index("person", person))
            steps = [
                c.record(AuditAction.ELEMENT_DECIDED, elements=["e"], decision="allow", source="psb")
                for _ in range(9)
            ]
            rec = idempotency_record(
                consumer="zjj",
                query_id=q.query_id,
                request_digest="0" * 64,
                response_sealed=keys.seal(body_bytes, context=b"ctx"),
            )
            return SimpleNamespace(records=steps, alongside=rec)

        audit_key = audit_keys.load_or_create(Path(tempfile.mkdtemp(prefix="micro-audit-")))
        for size in (1, 8, 32):
            writer = AuditWriter(engine, key=audit_key)
            batches = [[pending(i) for i in range(size)] for _ in range(60)]
            it = iter(batches)
            r = measure(lambda w=writer, it=it: w._commit(next(it)), n=50, warmup=5)
            per_query = {k: round(v / size, 1) if k != "n" else v for k, v in r.items()}
            results[f"audit transaction, {size} queries (9 rows + record each), per query"] = per_query
            print(
                f"{'audit _commit batch of ' + str(size) + ' queries, per query':<70} "
                f"cpu {per_query['cpu_us']:>8.1f} us   wall {per_query['wall_us']:>8.1f} us "
                f"(transaction wall {r['wall_us'] / 1000:.2f} ms)",
                flush=True,
            )
        pg.close()
    finally:
        for e in engines:
            e.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print("-- FastAPI: sync dependencies run in the thread pool (two per request)")
    import anyio.to_thread

    async def hops(n: int) -> None:
        for _ in range(n):
            await anyio.to_thread.run_sync(lambda: None)

    c0, w0 = time.process_time(), time.perf_counter()
    asyncio.run(hops(2000))
    c1, w1 = time.process_time(), time.perf_counter()
    results["anyio to_thread hop (idle process)"] = {
        "cpu_us": round(1e6 * (c1 - c0) / 2000, 1),
        "wall_us": round(1e6 * (w1 - w0) / 2000, 1),
        "n": 2000,
    }
    print(
        f"{'one run_in_threadpool hop (process CPU)':<70} cpu {1e6 * (c1 - c0) / 2000:>8.1f} us   "
        f"wall {1e6 * (w1 - w0) / 2000:>8.1f} us"
    )

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
