"""Survival of one query (issue 10): the dispatch is audited before a source is asked, and a query_id
is claimed before anything runs, so it is answered and released once, whatever arrives twice."""

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from protocol.envelope import SourceRequest
from shuyuan.embedded import Embedded
from tests.sourcekit import serve

ELEMENTS = ["person.name"]


def _actions(db: Callable[[], sqlite3.Connection] | Path, query_id: str) -> list[str]:
    if isinstance(db, Path):  # from another thread (a source's handler): its own connection
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT action FROM audit_entry WHERE request_id = ? ORDER BY seq", (query_id,)
            )
            return [r[0] for r in rows]
    rows = db().execute("SELECT action FROM audit_entry WHERE request_id = ? ORDER BY seq", (query_id,))
    return [r[0] for r in rows]


def test_the_dispatch_is_in_the_audit_chain_before_the_source_is_asked(
    client: TestClient,
    embedded: Embedded,
    ask: Any,
    gateway_db: Callable[[], sqlite3.Connection],
    tmp_path: Path,
) -> None:
    seen_then: list[list[str]] = []
    db = tmp_path / "shuyuan.db"
    serve(embedded, "psb", before=lambda r: seen_then.append(_actions(db, r.query_id)))
    response = ask("zjj", embedded.subjects.demo_person, ELEMENTS, query_id="q-claim-ahead")
    assert response.status_code == 200
    # What the chain held at the moment psb was asked: a crash from here on leaves this trace.
    assert seen_then == [["query.received", "element.decided", "source.dispatched"]]
    assert _actions(gateway_db, "q-claim-ahead")[-2:] == ["source.answered", "query.released"]


def test_a_query_id_in_flight_is_refused_not_run_twice(
    client: TestClient, embedded: Embedded, ask: Any, gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    entered, gate = threading.Event(), threading.Event()

    def _slow(request: SourceRequest) -> None:
        entered.set()
        assert gate.wait(30)

    asked = serve(embedded, "psb", before=_slow)
    person = embedded.subjects.demo_person
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(ask, "zjj", person, ELEMENTS, query_id="q-claim-twice")
        assert entered.wait(30)
        # The same request again (a client retrying on its own timeout) while the first runs.
        second = ask("zjj", person, ELEMENTS, query_id="q-claim-twice")
        gate.set()
        first_response = first.result(30)
    assert (second.status_code, second.json()["reason"]) == (409, "query_in_progress")
    assert first_response.status_code == 200
    third = ask("zjj", person, ELEMENTS, query_id="q-claim-twice")
    assert third.json() == first_response.json()  # the stored answer, replayed
    actions = _actions(gateway_db, "q-claim-twice")
    assert len(asked) == 1 and actions.count("source.dispatched") == 1
    assert actions.count("query.released") == 1 and actions.count("query.replayed") == 1


def test_an_audit_failure_before_any_source_is_asked_frees_the_query_id(
    client: TestClient, embedded: Embedded, ask: Any, gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    writer = embedded.state.audit_writer
    real_write = writer.write
    calls: list[int] = []

    async def _down_once(records: Any, alongside: Any = None) -> None:
        calls.append(len(records))
        if len(calls) == 1:
            from exchange.audit.writer import AuditUnavailable

            raise AuditUnavailable("the audit database is down")
        await real_write(records, alongside)

    asked = serve(embedded, "psb")
    writer.write = _down_once  # type: ignore[method-assign]
    try:
        person = embedded.subjects.demo_person
        down = ask("zjj", person, ELEMENTS, query_id="q-claim-freed")
        assert (down.status_code, down.json()["reason"]) == (503, "audit_unavailable")
        assert asked == []  # nobody was asked without the dispatch on the audit path
        again = ask("zjj", person, ELEMENTS, query_id="q-claim-freed")
    finally:
        writer.write = real_write  # type: ignore[method-assign]
    assert again.status_code == 200 and again.json()["status"] == "complete"
    assert len(asked) == 1
