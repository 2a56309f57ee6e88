"""Closed-loop HTTP load generator for POST /v1/queries, run in its own process.

`concurrency` tasks on one event loop (uvloop when installed) share one httpx.AsyncClient with as
many keep-alive connections (HTTP/1.1); each task sends a query, waits for the answer, and sends the
next. Requests that complete inside the measurement window (after the warm-up) are counted.
`client="raw"` swaps httpx for a minimal HTTP/1.1 keep-alive client on asyncio streams (one
connection per task), several times cheaper in CPU: it shows how much of a 2-core machine the
generator itself takes from the server.
Authentication as a deployed client system does it: each task holds its own OAuth2 access token
(`connectors.client_auth.TokenSource`, private_key_jwt with the system's key file; httpx goes through
`TokenAuth`), fetched before the warm-up and reused until near expiry (tokens live 300 s); every
body carries a fresh `requested_at`. Answers are not decrypted (that is the consumer's CPU, not the
exchange's): a 200 with status `complete` and 3 results, each carrying a `jwe`, is a success.
The parent is told when the window opens and closes over a pipe, so it can read the other processes'
CPU counters at the same moments.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ELEMENTS = ["person.name", "person.household_members", "person.si_contribution_base"]
SERVICE_ITEM = "330100-GZF-001"
CONSUMER = "zjj"
CLIENT_ID = "zjj-housing"  # the sample system of 住建局 (shuyuan/sample_systems.py)


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def query_body(query_id: str, subject_id: str) -> dict[str, Any]:
    """The benchmark's query: 3 elements from 2 sources (psb, hrss) for a housing case."""
    return {
        "query_id": query_id,
        "subject": {"type": "person", "id": subject_id},
        "elements": ELEMENTS,
        "purpose": {"service_item": SERVICE_ITEM, "case_no": "ZJJ-BENCH-1"},
        "on_behalf_of": "bench.caseworker",
        "requested_at": datetime.now(UTC).isoformat(),  # the gateway accepts +-5 min of skew
    }


def check_answer(status_code: int, payload: Any) -> str | None:
    """None when the answer is a complete 200, else a short error kind."""
    if status_code != 200:
        reason = payload.get("reason") if isinstance(payload, dict) else None
        return f"http_{status_code}" + (f":{reason}" if reason else "")
    if not isinstance(payload, dict) or payload.get("status") != "complete":
        reasons = sorted(
            {str(r.get("reason")) for r in payload.get("results", []) if r.get("status") != "ok"}
            if isinstance(payload, dict)
            else set()
        )
        return "partial:" + ",".join(reasons)
    if len(payload.get("results", [])) != len(ELEMENTS):
        return "wrong_result_count"
    if not all(isinstance(r.get("jwe"), str) and "value" not in r for r in payload["results"]):
        return "not_encrypted"
    return None


def token_source(url: str, key_file: str | Path, client_id: str = CLIENT_ID) -> Any:
    """A TokenSource for the benchmark's client system (in-memory cache only: one per worker)."""
    from connectors.client_auth import TokenSource, read_key_file

    return TokenSource(base_url=url, client_id=client_id, private_jwk=read_key_file(Path(key_file)))


async def bearer(source: Any) -> str:
    """The worker's current access token; fetched (off the event loop) only when near expiry."""
    from connectors.client_auth import TOKEN_MARGIN_S

    memory = source._memory
    if memory is not None and memory[1] - TOKEN_MARGIN_S > time.time():
        return str(memory[0])
    return str(await asyncio.to_thread(source.token))


class RawHttpError(Exception):
    """The raw client could not complete an exchange."""


class RawClient:
    """HTTP/1.1 POST over one keep-alive connection; Content-Length framing only (what uvicorn sends)."""

    def __init__(self, host: str, port: int, extra_headers: dict[str, str]) -> None:
        self._host, self._port = host, port
        self._head = "".join(f"{k}: {v}\r\n" for k, v in extra_headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        import json

        data = json.dumps(body).encode()
        head = self._head + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n{head}\r\n"
        ).encode() + data
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
            assert self._reader is not None
            self._writer.write(request)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = None
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length is None:
                raise RawHttpError("no Content-Length")
            payload = await self._reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, RawHttpError) as exc:
            await self.close()
            raise RawHttpError(type(exc).__name__) from exc
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


async def _run(conn: Connection, cfg: dict[str, Any]) -> dict[str, Any]:
    import httpx

    concurrency: int = cfg["concurrency"]
    subjects: list[str] = cfg["subjects"]
    tag: str = cfg["tag"]
    max_requests: int = cfg.get("max_requests", 1_000_000)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers: dict[str, str] = {}
    from connectors.client_auth import TokenAuth

    window: dict[str, float] = {}
    stop = asyncio.Event()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    samples: list[str] = []
    in_window_total = 0
    sent = 0

    use_raw = cfg.get("client", "httpx") == "raw"

    async def worker(client: httpx.AsyncClient, wid: int) -> None:
        nonlocal in_window_total, sent
        seq = 0
        raw = None
        # One access token per worker (as many client instances of the same system would hold),
        # fetched before the load starts and reused until near expiry.
        source = token_source(cfg["url"], cfg["key_file"], cfg.get("client_id", CLIENT_ID))
        await asyncio.to_thread(source.token)
        auth = TokenAuth(source)
        if use_raw:
            from urllib.parse import urlsplit

            parts = urlsplit(cfg["url"])
            raw = RawClient(parts.hostname or "127.0.0.1", parts.port or 80, headers)
        while not stop.is_set() and sent < max_requests:
            seq += 1
            sent += 1
            query_id = f"{tag}-{wid}-{seq}"
            subject = subjects[(wid * 7919 + seq) % len(subjects)]
            started = time.perf_counter()
            kind: str | None
            try:
                if raw is not None:
                    body = query_body(query_id, subject)
                    auth_header = {"Authorization": f"Bearer {await bearer(source)}"}
                    status, payload = await raw.post_json("/v1/queries", body, auth_header)
                    if status == 401:  # refused as invalid (e.g. expired early): renew once
                        source.forget()
                        auth_header = {"Authorization": f"Bearer {await bearer(source)}"}
                        status, payload = await raw.post_json("/v1/queries", body, auth_header)
                    kind = check_answer(status, payload)
                else:
                    await bearer(source)  # renew off the loop; TokenAuth then finds it in memory
                    response = await client.post("/v1/queries", json=query_body(query_id, subject), auth=auth)
                    try:
                        payload = response.json()
                    except ValueError:
                        payload = None
                    kind = check_answer(response.status_code, payload)
            except (httpx.HTTPError, RawHttpError) as exc:
                kind = (
                    f"exception:{type(exc).__name__}:{exc}"
                    if raw is not None
                    else f"exception:{type(exc).__name__}"
                )
            ended = time.perf_counter()
            if "t0" in window and ended >= window["t0"] and "t1" not in window:
                in_window_total += 1
                if kind is None:
                    latencies.append(ended - started)
                else:
                    errors[kind] += 1
                    if len(samples) < 5:
                        samples.append(f"{query_id}: {kind}")
        if raw is not None:
            await raw.close()

    async def clock() -> None:
        await asyncio.sleep(cfg["warmup_s"])
        window["t0"] = time.perf_counter()
        window["cpu0"] = _cpu_self()
        conn.send(("start", None))
        await asyncio.sleep(cfg["duration_s"])
        window["t1"] = time.perf_counter()
        window["cpu1"] = _cpu_self()
        conn.send(("end", None))
        stop.set()

    async with httpx.AsyncClient(
        base_url=cfg["url"], limits=limits, timeout=cfg.get("timeout_s", 30.0), http2=False
    ) as client:
        clock_task = asyncio.create_task(clock())
        workers = [asyncio.create_task(worker(client, i)) for i in range(concurrency)]
        await asyncio.wait_for(asyncio.gather(*workers), cfg["warmup_s"] + cfg["duration_s"] + 120)
        if not clock_task.done():  # max_requests reached before the window closed
            clock_task.cancel()
            window.setdefault("t0", time.perf_counter())
            window.setdefault("cpu0", _cpu_self())
            window["t1"] = time.perf_counter()
            window["cpu1"] = _cpu_self()
            conn.send(("end", None))

    measured = window["t1"] - window["t0"]
    # Counted: the requests that completed inside the window, whenever they started (steady state).
    from benchlib import latency_summary

    return {
        "concurrency": concurrency,
        "window_s": round(measured, 3),
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "error_samples": samples,
        "qps": round(len(latencies) / measured, 1) if measured > 0 else 0.0,
        **latency_summary(latencies),
        "client": cfg.get("client", "httpx"),
        "generator_cpu_s": round(window["cpu1"] - window["cpu0"], 2),
        "generator_core_pct": round(100 * (window["cpu1"] - window["cpu0"]) / measured, 1),
        "sent_total": sent,
    }


def load_worker(conn: Connection, cfg: dict[str, Any]) -> None:
    """Entry point of the generator process: run the load, send ("result", dict) or ("error", str)."""
    try:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        result = runner(_run(conn, cfg))
        conn.send(("result", result))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()
