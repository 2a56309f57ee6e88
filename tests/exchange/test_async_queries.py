"""Asynchronous queries on the embedded exchange: 202 and polling, released once, expiry, callbacks
signed by the gateway and only to registered URLs, slow sources answered asynchronously."""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.client import ConsumerClient, GatewayError
from exchange.request_signing import RequestSigner
from protocol.callbacks import CallbackPayload, sign_callback, verify_callback
from protocol.clock import utcnow
from protocol.jose import JoseFailure
from shuyuan.embedded import Embedded
from tests.exchange.conftest import as_department, query_body
from tests.sourcekit import serve

ASYNC = {"Prefer": "respond-async"}
ELEMENTS = ["person.name", "person.si_status"]


def _poll(client: TestClient, query_id: str, headers: dict[str, str] | None = None) -> Any:
    for _ in range(200):
        got = client.get(f"/v1/queries/{query_id}", headers=headers or {})
        if got.status_code != 200 or got.json()["status"] != "pending":
            return got
        assert got.headers["Retry-After"] == "1"
        time.sleep(0.05)
    raise AssertionError("the async query stayed pending")


def _audit(conn: sqlite3.Connection, query_id: str) -> list[tuple[str, str | None]]:
    rows = conn.execute(
        "SELECT action, reason FROM audit_entry WHERE request_id = ? ORDER BY seq", (query_id,)
    ).fetchall()
    return [(r["action"], r["reason"]) for r in rows]


@pytest.fixture
def hook() -> Iterator[tuple[str, list[bytes]]]:
    """A real local HTTP server that records the callback bodies it receives."""
    received: list[bytes] = []

    class _Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/shuyuan/callback", received
    server.shutdown()
    thread.join()


def test_respond_async_is_accepted_then_released_once_and_opened_with_the_sdk(
    client: TestClient, embedded: Embedded, gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    subject = embedded.subjects.demo_person
    body = query_body(subject, ELEMENTS)
    accepted = client.post("/v1/queries", json=body, headers=ASYNC)
    assert accepted.status_code == 202
    assert accepted.headers["Location"] == f"/v1/queries/{body['query_id']}"
    assert accepted.headers["Preference-Applied"] == "respond-async"
    assert accepted.json() == {
        "query_id": body["query_id"],
        "status": "pending",
        "location": accepted.headers["Location"],
    }

    done = _poll(client, body["query_id"])
    assert done.status_code == 200
    sdk = ConsumerClient(client, keys=embedded.keys["zjj"])
    answer = sdk.open(done.json(), subject_type="person", subject_id=subject)
    assert [r.status for r in answer.results] == ["ok", "ok"]

    again = client.get(f"/v1/queries/{body['query_id']}")
    assert again.status_code == 410
    assert again.json()["reason"] == "result_fetched"
    conn = gateway_db()
    row = conn.execute("SELECT status, result_sealed FROM async_result").fetchone()
    assert (row["status"], row["result_sealed"]) == ("fetched", None)  # the ciphertext is gone
    actions = _audit(conn, body["query_id"])
    assert actions[0] == ("query.deferred", None)
    assert ("query.released", None) in actions  # the one release path of QueryService.run
    assert ("query.result_fetched", None) in actions
    assert actions[-1] == ("query.refused", "result_fetched")


def test_another_department_polling_the_query_id_gets_404_and_nothing(
    client: TestClient, embedded: Embedded
) -> None:
    body = query_body(embedded.subjects.demo_person, ELEMENTS)
    assert client.post("/v1/queries", json=body, headers=ASYNC).status_code == 202
    other = as_department(client, embedded, "xzsp")
    for _ in range(20):
        stolen = client.get(f"/v1/queries/{body['query_id']}", headers=other)
        assert stolen.status_code == 404
        assert "results" not in stolen.json()
        time.sleep(0.02)
    assert _poll(client, body["query_id"]).status_code == 200  # still there for its consumer


def test_an_expired_result_is_410_and_its_ciphertext_is_dropped(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    embedded, client = gateway_with(async_result_ttl_s=1)
    body = query_body(embedded.subjects.demo_person, ELEMENTS)
    assert client.post("/v1/queries", json=body, headers=ASYNC).status_code == 202
    time.sleep(1.2)
    expired = client.get(f"/v1/queries/{body['query_id']}")
    assert expired.status_code == 410
    assert expired.json()["reason"] == "result_expired"
    conn = gateway_db()
    row = conn.execute("SELECT status, result_sealed FROM async_result").fetchone()
    assert (row["status"], row["result_sealed"]) == ("expired", None)
    assert client.get(f"/v1/queries/{body['query_id']}").json()["reason"] == "result_expired"  # still 410
    assert _audit(conn, body["query_id"])[-1] == ("query.refused", "result_expired")


def test_the_sweep_drops_results_never_polled_and_then_their_rows(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    # A consumer that never polls must not leave encrypted personal data in the gateway for ever.
    embedded, client = gateway_with(async_result_ttl_s=60)
    body = query_body(embedded.subjects.demo_person, ELEMENTS)
    assert client.post("/v1/queries", json=body, headers=ASYNC).status_code == 202
    client.portal.call(embedded.state.async_queries.idle)  # type: ignore[union-attr]
    conn = gateway_db()
    assert conn.execute("SELECT result_sealed IS NOT NULL FROM async_result").fetchone()[0] == 1
    sweep = embedded.state.async_queries.sweep
    assert client.portal.call(sweep, utcnow() + timedelta(seconds=30)) == (0, 0)  # type: ignore[union-attr]
    assert client.portal.call(sweep, utcnow() + timedelta(seconds=61)) == (1, 0)  # type: ignore[union-attr]
    row = conn.execute("SELECT status, result_sealed FROM async_result").fetchone()
    assert (row["status"], row["result_sealed"]) == ("expired", None)
    assert client.get(f"/v1/queries/{body['query_id']}").json()["reason"] == "result_expired"
    client.portal.call(sweep, utcnow() + timedelta(seconds=121))  # type: ignore[union-attr]
    assert conn.execute("SELECT count(*) FROM async_result").fetchone()[0] == 0


def test_a_run_lost_with_its_gateway_is_failed_query_interrupted(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    embedded, client = gateway_with(async_run_max_s=600)
    body = query_body(embedded.subjects.demo_person, ELEMENTS)
    assert client.post("/v1/queries", json=body, headers=ASYNC).status_code == 202
    client.portal.call(embedded.state.async_queries.idle)  # type: ignore[union-attr]
    conn = gateway_db()
    # As a gateway killed mid-run leaves it: still pending, no result.
    conn.execute("UPDATE async_result SET status = 'pending', result_sealed = NULL")
    conn.commit()
    sweep = embedded.state.async_queries.sweep
    assert client.portal.call(sweep, utcnow() + timedelta(seconds=60)) == (0, 0)  # type: ignore[union-attr]
    assert client.portal.call(sweep, utcnow() + timedelta(seconds=601)) == (0, 1)  # type: ignore[union-attr]
    failed = client.get(f"/v1/queries/{body['query_id']}")
    assert failed.status_code == 200
    assert failed.json() == {
        "query_id": body["query_id"],
        "status": "failed",
        "reason": "query_interrupted",
        "detail": None,
    }


def test_a_repost_of_an_accepted_query_id_must_ask_the_same(
    client: TestClient, embedded: Embedded, gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    body = query_body(embedded.subjects.demo_person, ELEMENTS)
    assert client.post("/v1/queries", json=body, headers=ASYNC).status_code == 202
    assert client.post("/v1/queries", json=body, headers=ASYNC).status_code == 202  # the same: same 202
    other = body | {"elements": ["person.name", "person.registered_address"]}
    refused = client.post("/v1/queries", json=other, headers=ASYNC)
    assert refused.status_code == 409, refused.text
    assert refused.json()["reason"] == "conflict"
    done = _poll(client, body["query_id"])
    results = done.json()["results"]
    assert [r["code"] for r in results] == ELEMENTS  # the first request's answer, nothing of the second
    deferred = [a for a in _audit(gateway_db(), body["query_id"]) if a[0] == "query.deferred"]
    assert len(deferred) == 1


def test_an_unregistered_callback_url_is_400_audited_and_nothing_runs(
    client: TestClient, embedded: Embedded, gateway_db: Callable[[], sqlite3.Connection]
) -> None:
    asked = serve(embedded, "psb")
    body = query_body(embedded.subjects.demo_person, ["person.name"]) | {
        "callback_url": "http://169.254.169.254/latest/meta-data"
    }
    refused = client.post("/v1/queries", json=body, headers=ASYNC)
    assert refused.status_code == 400
    assert refused.json()["reason"] == "callback_not_registered"
    time.sleep(0.2)
    assert asked == []
    conn = gateway_db()
    assert _audit(conn, body["query_id"]) == [("query.refused", "callback_not_registered")]
    assert conn.execute("SELECT count(*) FROM async_result").fetchone()[0] == 0


def test_callback_urls_are_https_except_loopback_in_test(client: TestClient) -> None:
    bad = client.put("/v1/systems/zjj-test/callback-urls", json={"callback_urls": ["http://example.org/cb"]})
    assert bad.status_code == 400
    good = client.put(
        "/v1/systems/zjj-test/callback-urls",
        json={"callback_urls": ["https://zjj.example/cb", "http://127.0.0.1:9/cb"]},
    )
    assert good.status_code == 200
    assert good.json()["callback_urls"] == ["https://zjj.example/cb", "http://127.0.0.1:9/cb"]


def test_a_slow_source_is_answered_202_with_a_signed_callback(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], hook: tuple[str, list[bytes]]
) -> None:
    embedded, client = gateway_with(source_timeout_s=0.3)
    url, received = hook
    assert client.put("/v1/systems/zjj-test/callback-urls", json={"callback_urls": [url]}).status_code == 200
    steward = __import__("tests.authkit", fromlist=["steward_headers"]).steward_headers(client)
    patched = client.patch("/v1/departments/psb", json={"answer_deadline_s": 2.0}, headers=steward)
    assert patched.status_code == 200
    serve(embedded, "psb", before=lambda _: time.sleep(0.6))  # beyond the sync timeout, within 2 s

    subject = embedded.subjects.demo_person
    body = query_body(subject, ["person.name"]) | {"callback": True}
    accepted = client.post("/v1/queries", json=body)  # no Prefer: the slow source makes it async
    assert accepted.status_code == 202
    assert "Preference-Applied" not in accepted.headers
    for _ in range(100):
        if received:
            break
        time.sleep(0.05)
    jwks = client.get("/.well-known/request-jwks.json").json()
    told = verify_callback(received[0], jwks)
    assert (told.query_id, told.consumer, told.location) == (
        body["query_id"],
        "zjj",
        accepted.headers["Location"],
    )
    sdk = ConsumerClient(client, keys=embedded.keys["zjj"])
    assert sdk.verify_callback(received[0], jwks) == told
    out = sdk.fetch(body["query_id"])  # the callback came after the result was stored
    answer = sdk.open(out, subject_type="person", subject_id=subject)
    assert answer.results[0].status == "ok"  # waited for the slow source, not source_timeout
    with pytest.raises(GatewayError) as second:
        sdk.fetch(body["query_id"])
    assert second.value.problem["reason"] == "result_fetched"


def test_a_callback_signed_by_another_key_is_rejected(client: TestClient) -> None:
    jwks = client.get("/.well-known/request-jwks.json").json()
    forger = RequestSigner.from_entries(["a-forger-s-own-secret-of-enough-length-0001"])
    key, kid = forger.signing_key()
    payload = CallbackPayload(
        query_id="q-forged-0001",
        location="/v1/queries/q-forged-0001",
        consumer="zjj",
        issued_at=utcnow() - timedelta(seconds=1),
    )
    with pytest.raises(JoseFailure):
        verify_callback(sign_callback(payload, key=key, kid=kid), jwks)
    # The gateway's own request (another typ) is no callback either.
    gateway = RequestSigner.from_entries(["development-only-platform-key-change-me"])
    key, kid = gateway.signing_key()
    with pytest.raises(JoseFailure):
        verify_callback(sign_callback(payload, key=key, kid=kid)[:-4] + b"AAAA", jwks)
