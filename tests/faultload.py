"""The fault suite's load: ~20 queries in flight from the test process, every outcome recorded.

Each query is the benchmark's housing question (3 elements from psb and hrss, bench/loadgen.py) with
a unique query_id, sent by the sample system zjj-housing with an OAuth2 token (private_key_jwt).
An answer is terminal when it is a 200 (complete or partial) or a problem+json with a reason code; a
query with no answer within ANSWER_TIMEOUT_S is a hang.
"""

import asyncio
import random
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from connectors.client_auth import TokenAuth, TokenError, TokenSource, read_key_file

ELEMENTS = ["person.name", "person.household_members", "person.si_contribution_base"]
SERVICE_ITEM = "330100-GZF-001"
CLIENT_ID = "zjj-housing"  # the sample system of 住建局 (shuyuan/sample_systems.py)
CONCURRENCY = 20
ANSWER_TIMEOUT_S = 30.0


def query_body(query_id: str, subject_id: str) -> dict[str, Any]:
    """The suite's query: 3 elements from 2 sources for a housing case."""
    return {
        "query_id": query_id,
        "subject": {"type": "person", "id": subject_id},
        "elements": ELEMENTS,
        "purpose": {"service_item": SERVICE_ITEM, "case_no": "ZJJ-FAULTS-1"},
        "on_behalf_of": "faults.caseworker",
        "requested_at": datetime.now(UTC).isoformat(),  # the gateway accepts +-5 min of skew
    }


def token_source(url: str, work: Path) -> TokenSource:
    """A TokenSource of the suite's client system."""
    key = read_key_file(work / "keys" / "systems" / f"{CLIENT_ID}.jwk")
    return TokenSource(base_url=url, client_id=CLIENT_ID, private_jwk=key)


def complete_subjects(departments: Path) -> list[str]:
    """Persons both psb and hrss hold, so that every answer can be complete."""
    with sqlite3.connect(departments / "psb.sqlite") as psb:
        in_psb = {row[0] for row in psb.execute("SELECT resident_id FROM hukou_person")}
    with sqlite3.connect(departments / "hrss.sqlite") as hrss:
        in_hrss = {row[0] for row in hrss.execute("SELECT resident_id FROM si_insured")}
    return sorted(in_psb & in_hrss)


@dataclass
class Outcome:
    """One query as the client saw it."""

    body: dict[str, Any]
    sent_at: float  # monotonic
    latency_s: float
    kind: str  # complete | partial | problem | lost | refused | hang
    status_code: int | None = None
    reason: str | None = None  # the problem's reason code, or the partial results' reasons
    answer: dict[str, Any] | None = None

    @property
    def query_id(self) -> str:
        """The query's id."""
        return str(self.body["query_id"])

    @property
    def finished_at(self) -> float:
        """When the answer (or the failure) came, monotonic."""
        return self.sent_at + self.latency_s


def classify(body: dict[str, Any], sent_at: float, response: httpx.Response) -> Outcome:
    """The outcome of an HTTP answer."""
    latency = time.monotonic() - sent_at
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code == 200 and isinstance(payload, dict):
        if payload.get("status") == "complete":
            return Outcome(body, sent_at, latency, "complete", 200, answer=payload)
        results = payload.get("results", [])
        reasons = sorted({str(r.get("reason")) for r in results if r.get("status") != "ok"})
        return Outcome(body, sent_at, latency, "partial", 200, ",".join(reasons), payload)
    reason = payload.get("reason") if isinstance(payload, dict) else None
    return Outcome(body, sent_at, latency, "problem", response.status_code, reason)


@dataclass
class Load:
    """CONCURRENCY closed-loop senders on an event loop in a thread, until stop()."""

    url: str
    work: Path
    subjects: list[str]
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _token: str = ""

    def __enter__(self) -> "Load":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Fetch a token and start sending."""
        self._source = token_source(self.url, self.work)
        self._token = self._source.token()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), name="load", daemon=True)
        self._thread.start()

    def stop(self) -> list[Outcome]:
        """Stop sending, wait for the queries in flight to end; every outcome."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(ANSWER_TIMEOUT_S + 15)
        return self.outcomes

    def since(self, t: float) -> list[Outcome]:
        """The outcomes of the queries sent at or after monotonic time t."""
        return [o for o in list(self.outcomes) if o.sent_at >= t]

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=ANSWER_TIMEOUT_S) as http:
            await asyncio.gather(*(self._sender(http, n) for n in range(CONCURRENCY)))

    async def _sender(self, http: httpx.AsyncClient, n: int) -> None:
        count = 0
        while not self._stop.is_set():
            count += 1
            body = query_body(f"f{self.tag}-{n:02d}-{count:05d}", random.choice(self.subjects))
            outcome = await self.send(http, body)
            self.outcomes.append(outcome)
            if outcome.kind in ("refused", "lost") or outcome.status_code == 401:
                await asyncio.sleep(0.2)  # the gateway is down: do not spin on connection errors
            if outcome.status_code == 401:
                await self._refresh()

    async def send(self, http: httpx.AsyncClient, body: dict[str, Any]) -> Outcome:
        """POST one query; its outcome, never an exception."""
        t0 = time.monotonic()
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = await http.post("/v1/queries", json=body, headers=headers)
        except httpx.ConnectError:
            return Outcome(body, t0, time.monotonic() - t0, "refused")
        except httpx.TimeoutException:
            return Outcome(body, t0, time.monotonic() - t0, "hang")
        except httpx.TransportError as exc:
            # The connection broke after the request went out: the query was in flight.
            return Outcome(body, t0, time.monotonic() - t0, "lost", reason=type(exc).__name__)
        return classify(body, t0, response)

    async def _refresh(self) -> None:
        try:
            self._source.forget()
            self._token = await asyncio.to_thread(self._source.token)
        except (TokenError, httpx.TransportError):
            pass


def wait_until_answering(url: str, work: Path, subject: str, timeout_s: float) -> float:
    """Poll until a query completes; the seconds it took."""
    t0 = time.monotonic()
    last: object = None
    auth: TokenAuth | None = None
    while time.monotonic() - t0 < timeout_s:
        body = query_body(f"ready-{uuid.uuid4().hex[:12]}", subject)
        try:
            auth = auth or TokenAuth(token_source(url, work))
            r = httpx.post(f"{url}/v1/queries", json=body, auth=auth, timeout=15)
            last = (r.status_code, r.text[:300])
            if r.status_code == 200 and r.json().get("status") == "complete":
                return time.monotonic() - t0
        except (httpx.TransportError, TokenError) as exc:
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"no complete answer within {timeout_s} s; last: {last}")


def run_load(url: str, work: Path, subjects: list[str], seconds: float) -> list[Outcome]:
    """Steady load for `seconds`; the outcomes."""
    load = Load(url, work, subjects)
    load.start()
    time.sleep(seconds)
    return load.stop()
