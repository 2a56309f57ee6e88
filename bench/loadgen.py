"""Closed-loop HTTP load generator for POST /v1/queries, run in its own process.

`concurrency` tasks on one event loop (uvloop when installed) share one httpx.AsyncClient with as
many keep-alive connections (HTTP/1.1); each task sends a query, waits for the answer, and sends the
next. Requests that complete inside the measurement window (after the warm-up) are counted.
The parent is told when the window opens and closes over a pipe, so it can read the other processes'
CPU counters at the same moments.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

ELEMENTS = ["person.name", "person.household_members", "person.si_contribution_base"]
SERVICE_ITEM = "330100-GZF-001"
CONSUMER = "zjj"


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
    return None


async def _run(conn: Connection, cfg: dict[str, Any]) -> dict[str, Any]:
    import httpx

    concurrency: int = cfg["concurrency"]
    subjects: list[str] = cfg["subjects"]
    tag: str = cfg["tag"]
    max_requests: int = cfg.get("max_requests", 1_000_000)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"X-Consumer-Department": CONSUMER}

    window: dict[str, float] = {}
    stop = asyncio.Event()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    samples: list[str] = []
    in_window_total = 0
    sent = 0

    async def worker(client: httpx.AsyncClient, wid: int) -> None:
        nonlocal in_window_total, sent
        seq = 0
        while not stop.is_set() and sent < max_requests:
            seq += 1
            sent += 1
            query_id = f"{tag}-{wid}-{seq}"
            subject = subjects[(wid * 7919 + seq) % len(subjects)]
            started = time.perf_counter()
            kind: str | None
            try:
                response = await client.post(
                    "/v1/queries", json=query_body(query_id, subject), headers=headers
                )
                try:
                    payload = response.json()
                except ValueError:
                    payload = None
                kind = check_answer(response.status_code, payload)
            except httpx.HTTPError as exc:
                kind = f"exception:{type(exc).__name__}"
            ended = time.perf_counter()
            if "t0" in window and ended >= window["t0"] and "t1" not in window:
                in_window_total += 1
                if kind is None:
                    latencies.append(ended - started)
                else:
                    errors[kind] += 1
                    if len(samples) < 5:
                        samples.append(f"{query_id}: {kind}")

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
