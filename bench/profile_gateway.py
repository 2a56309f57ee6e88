"""The gateway (`shuyuan gateway serve`) with profiling switched on and off by signals.

    SHUYUAN_* env as for the gateway; .venv/bin/python bench/profile_gateway.py --port P --out DIR

SIGUSR1 starts, SIGUSR2 stops and writes to DIR (--tools picks which, comma-separated):
- threads.txt / threads.json (always): CPU seconds of every thread of the process over the window,
  from /proc/self/task;
- phases: phases.txt / phases.json: wall time of each step of the query flow (HTTP request as
  seen by the ASGI app, QueryService.run, the idempotency lookup with and without its wait for a
  worker thread, each transport request, the audit write and the audit transaction itself with its
  batch size) and the event loop's lag (a 10 ms timer's oversleep);
- stacks: a sampler of every thread's Python stack (every ~5 ms), added to threads.txt. Caveat: the
  sampler needs the GIL, so it sees a thread only where that thread has released the GIL (blocking
  calls) or waits for it: read it as "where threads wait", not as a CPU profile;
- yappi (if `pip install yappi`): yappi.txt / yappi.pstats, a CPU-clock profile of every thread
  (the best view of where the process's CPU goes; it slows the gateway down too);
- cprofile: cprofile.pstats / cprofile.txt, cProfile of the event-loop thread (wall clock), and
  cprofile_cpu.* with a per-thread CPU-time clock (--cpu-clock). Its overhead slows the gateway,
  so throughput measured with it on is not a benchmark figure.
query_bench.py --profile DIR drives this for one concurrency level.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import thread_cpu_seconds

# Leaf frames (file suffix, function) where a thread waits rather than computes.
IDLE_LEAVES = {
    ("selectors.py", "select"),
    ("threading.py", "wait"),
    ("threading.py", "_wait_for_tstate_lock"),
    ("concurrent/futures/thread.py", "_worker"),  # SimpleQueue.get() is C: the worker is idle
    ("queue.py", "get"),
    ("asyncio/runners.py", "run"),  # uvloop's run_until_complete is C: the loop is idle in epoll
    ("asyncio/base_events.py", "run_forever"),
    ("asyncio/base_events.py", "_run_once"),
}


def _where(code: Any) -> str:
    filename = code.co_filename
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return filename


def _is_idle(leaf: tuple[str, str]) -> bool:
    return any(leaf[0].endswith(f) and leaf[1] == n for f, n in IDLE_LEAVES)


class StackSampler:
    """Samples every thread's Python stack at a fixed interval while active."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self._interval = interval_s
        self._active = threading.Event()
        self._stacks: dict[str, Counter[tuple[tuple[str, str], ...]]] = defaultdict(Counter)
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._thread.start()

    def start(self) -> None:
        self._stacks.clear()
        self._active.set()

    def stop(self) -> dict[str, Counter[tuple[tuple[str, str], ...]]]:
        self._active.clear()
        time.sleep(2 * self._interval)
        return dict(self._stacks)

    def _loop(self) -> None:
        me = threading.get_ident()
        while True:
            self._active.wait()
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = []
                f: FrameType | None = frame
                while f is not None and len(stack) < 60:
                    stack.append((_where(f.f_code), f.f_code.co_name))
                    f = f.f_back
                self._stacks[_thread_kind(names.get(ident, str(ident)))][tuple(stack)] += 1
            time.sleep(self._interval)


def _thread_kind(name: str) -> str:
    # Pool workers are many and interchangeable: group them.
    if name.startswith(("asyncio_", "uvloop_")):
        return "to_thread worker pool"
    return name


def _thread_cpu() -> dict[str, float]:
    pid = os.getpid()
    cpu: dict[str, float] = defaultdict(float)
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid in os.listdir(f"/proc/{pid}/task"):
        seconds = thread_cpu_seconds(pid, int(tid))
        if seconds is not None:
            cpu[f"{tid}:{names.get(int(tid), '?')}"] = seconds
    return cpu


def summarise(
    stacks: dict[str, Counter[tuple[tuple[str, str], ...]]], top: int = 25
) -> dict[str, dict[str, Any]]:
    """Per thread: samples, busy samples, and the busiest functions (inclusive and self)."""
    out = {}
    for kind, counter in stacks.items():
        total = sum(counter.values())
        busy = Counter({s: n for s, n in counter.items() if s and not _is_idle(s[0])})
        nbusy = sum(busy.values())
        inclusive: Counter[str] = Counter()
        leaf: Counter[str] = Counter()
        for stack, n in busy.items():
            leaf[f"{stack[0][0]}:{stack[0][1]}"] += n
            for frame in set(stack):
                inclusive[f"{frame[0]}:{frame[1]}"] += n
        out[kind] = {
            "samples": total,
            "busy_samples": nbusy,
            "inclusive": [(k, round(100 * v / nbusy, 1)) for k, v in inclusive.most_common(top)]
            if nbusy
            else [],
            "self": [(k, round(100 * v / nbusy, 1)) for k, v in leaf.most_common(top)] if nbusy else [],
        }
    return out


class Phases:
    """Wall-time samples per named step, kept only while profiling is on."""

    def __init__(self) -> None:
        self.active = False
        self.data: dict[str, list[float]] = defaultdict(list)

    def add(self, name: str, value: float) -> None:
        if self.active:
            self.data[name].append(value)

    def report(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, values in sorted(self.data.items()):
            v = sorted(values)
            n = len(v)
            is_count = name.endswith("(count)")
            scale = 1 if is_count else 1000
            out[name] = {
                "n": n,
                "mean": round(scale * sum(v) / n, 2),
                "p50": round(scale * v[n // 2], 2),
                "p90": round(scale * v[min(n - 1, int(n * 0.9))], 2),
                "p99": round(scale * v[min(n - 1, int(n * 0.99))], 2),
                "max": round(scale * v[-1], 2),
            }
        return out


def install_phase_timers(phases: Phases) -> None:
    """Wrap the steps of the query flow with timers (monkeypatching: the product is not changed)."""
    from exchange.audit.writer import AuditWriter
    from exchange.queries.service import QueryService
    from exchange.transport.kafka import KafkaTransport
    from exchange.transport.memory import MemoryTransport

    def timed_async(cls: Any, attr: str, label: str) -> None:
        original = getattr(cls, attr)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                phases.add(label, time.perf_counter() - t)

        setattr(cls, attr, wrapper)

    def timed_sync(cls: Any, attr: str, label: str, count: Any = None) -> None:
        original = getattr(cls, attr)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                phases.add(label, time.perf_counter() - t)
                if count is not None:
                    phases.add(f"{label} batch (count)", count(*args, **kwargs))

        setattr(cls, attr, wrapper)

    timed_async(QueryService, "run", "2 QueryService.run")
    timed_async(QueryService, "_replay", "3 idempotency lookup (incl. wait for a worker thread)")
    timed_sync(
        QueryService, "_find_record", "3a idempotency SELECT in the worker thread (incl. pool pre-ping)"
    )
    timed_async(QueryService, "_ask_sources", "4 ask sources (all, in parallel)")
    timed_async(KafkaTransport, "request", "4a one source request (Kafka)")
    timed_async(MemoryTransport, "request", "4a one source request (in-process)")
    timed_async(AuditWriter, "write", "5 audit write (queue + group commit)")
    timed_sync(AuditWriter, "_commit", "5a audit transaction", count=lambda self, batch: len(batch))


def timed_asgi(app: Any, phases: Phases) -> Any:
    """The app, with each HTTP request's time inside the ASGI app recorded."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        t = time.perf_counter()
        try:
            await app(scope, receive, send)
        finally:
            phases.add("1 HTTP request in the ASGI app", time.perf_counter() - t)

    return wrapped


async def loop_lag(phases: Phases, interval: float = 0.01) -> None:
    """Oversleep of a 10 ms timer: how long ready work waits for the event loop (and the GIL)."""
    import asyncio

    while True:
        t = time.perf_counter()
        await asyncio.sleep(interval)
        phases.add("0 event loop lag (10 ms timer oversleep)", time.perf_counter() - t - interval)


class Controller:
    """SIGUSR1 starts profiling, SIGUSR2 stops it and writes the report."""

    def __init__(self, out: Path, tools: set[str], phases: Phases, cpu_clock: bool) -> None:
        self._out = out
        self._tools = tools
        self._phases = phases
        self._cpu_clock = cpu_clock
        self._sampler = StackSampler() if "stacks" in tools else None
        self._profile: cProfile.Profile | None = None
        self._cpu0: dict[str, float] = {}
        self._t0 = 0.0
        self._running = False

    def start(self, *_: Any) -> None:
        if self._running:
            return
        self._running = True
        self._t0 = time.monotonic()
        self._cpu0 = _thread_cpu()
        self._phases.data.clear()
        self._phases.active = "phases" in self._tools
        if self._sampler is not None:
            self._sampler.start()
        if "cprofile" in self._tools:
            self._profile = cProfile.Profile(time.thread_time) if self._cpu_clock else cProfile.Profile()
            self._profile.enable()
        if "yappi" in self._tools:
            import yappi

            yappi.clear_stats()
            yappi.set_clock_type("cpu")
            yappi.start(builtins=True, profile_threads=True)

    def stop(self, *_: Any) -> None:
        if not self._running:
            return
        self._running = False
        if self._profile is not None:
            self._profile.disable()
        if "yappi" in self._tools:
            import yappi

            yappi.stop()
        self._phases.active = False
        wall = time.monotonic() - self._t0
        stacks = self._sampler.stop() if self._sampler is not None else {}
        cpu1 = _thread_cpu()
        self._out.mkdir(parents=True, exist_ok=True)
        threads = {
            name: round(seconds - self._cpu0.get(name, 0.0), 2)
            for name, seconds in cpu1.items()
            if seconds - self._cpu0.get(name, 0.0) > 0.005
        }
        report = {
            "wall_s": round(wall, 2),
            "thread_cpu_s": dict(sorted(threads.items(), key=lambda kv: -kv[1])),
            "process_cpu_s": round(sum(threads.values()), 2),
            "sampled": summarise(stacks),
        }
        (self._out / "threads.json").write_text(json.dumps(report, indent=1))
        lines = [f"window {wall:.1f} s; CPU seconds per thread (process total {report['process_cpu_s']}):"]
        lines += [f"  {v:7.2f}  {k}" for k, v in report["thread_cpu_s"].items()]
        for kind, s in sorted(report["sampled"].items(), key=lambda kv: -kv[1]["busy_samples"]):
            lines.append(f"\n== {kind}: {s['busy_samples']} busy of {s['samples']} samples")
            lines.append("  inclusive %:")
            lines += [f"    {p:5.1f}  {k}" for k, p in s["inclusive"]]
            lines.append("  self %:")
            lines += [f"    {p:5.1f}  {k}" for k, p in s["self"][:15]]
        (self._out / "threads.txt").write_text("\n".join(lines) + "\n")
        if "phases" in self._tools:
            table = self._phases.report()
            (self._out / "phases.json").write_text(json.dumps(table, indent=1))
            rows = [f"{'step':<66} {'n':>6} {'mean':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  (ms)"]
            for name, r in table.items():
                figures = " ".join(f"{r[k]:>8}" for k in ("mean", "p50", "p90", "p99", "max"))
                rows.append(f"{name:<66} {r['n']:>6} {figures}")
            (self._out / "phases.txt").write_text("\n".join(rows) + "\n")
        if "yappi" in self._tools:
            self._write_yappi(wall)
        if self._profile is not None:
            stem = "cprofile_cpu" if self._cpu_clock else "cprofile"
            self._profile.dump_stats(self._out / f"{stem}.pstats")
            buf = io.StringIO()
            stats = pstats.Stats(self._profile, stream=buf)
            stats.sort_stats("tottime").print_stats(45)
            stats.sort_stats("cumulative").print_stats(70)
            (self._out / f"{stem}.txt").write_text(buf.getvalue())
            self._profile = None

    def _write_yappi(self, wall: float) -> None:
        import yappi

        threads = yappi.get_thread_stats()
        total = sum(t.ttot for t in threads) or 1.0
        stats = yappi.get_func_stats()
        lines = [f"yappi, CPU clock, {wall:.1f} s window, {total:.2f} CPU s profiled in all threads"]
        lines.append("\nper thread (CPU s):")
        lines += [f"  {t.ttot:7.2f}  {t.name} ({t.tid})" for t in sorted(threads, key=lambda t: -t.ttot)]

        def pct(x: float) -> str:
            return f"{100 * x / total:5.1f}%"

        def name(f: Any) -> str:
            return f"{_short(f.module)}:{f.lineno} {f.name}"

        lines.append("\nself CPU (tsub), top 60:")
        for f in sorted(stats, key=lambda f: -f.tsub)[:60]:
            lines.append(f"  {pct(f.tsub)} {f.tsub:7.2f}s  {f.ncall:>8}  {name(f)}")
        lines.append("\ninclusive CPU (ttot), top 100:")
        for f in sorted(stats, key=lambda f: -f.ttot)[:100]:
            lines.append(f"  {pct(f.ttot)} {f.ttot:7.2f}s  {f.ncall:>8}  {name(f)}")
        (self._out / "yappi.txt").write_text("\n".join(lines) + "\n")
        stats.save(str(self._out / "yappi.pstats"), type="pstat")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "/src/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tools", default="phases", help="comma-separated: phases, stacks, yappi, cprofile")
    parser.add_argument("--cpu-clock", action="store_true", help="cProfile with a thread CPU-time clock")
    parser.add_argument("--embedded", type=Path, help="profile the embedded exchange on this data dir")
    args = parser.parse_args()

    import asyncio

    import uvicorn

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    tools = {t.strip() for t in args.tools.split(",") if t.strip()}
    phases = Phases()
    if "phases" in tools:
        install_phase_timers(phases)
    controller = Controller(args.out, tools, phases, args.cpu_clock)
    signal.signal(signal.SIGUSR1, controller.start)
    signal.signal(signal.SIGUSR2, controller.stop)
    if args.embedded:
        from shuyuan.embedded import build_embedded

        app = build_embedded(args.embedded).app
    else:
        from exchange.settings import GatewaySettings
        from shuyuan.app import create_app

        app = create_app(GatewaySettings())
    asgi: Any = app
    if "phases" in tools:
        asgi = timed_asgi(app, phases)
        lifespan = app.router.lifespan_context

        # Start the loop-lag probe inside the server's event loop, with the app's own lifespan.
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def with_probe(a: Any) -> Any:
            task = asyncio.create_task(loop_lag(phases))
            try:
                async with lifespan(a) as state:
                    yield state
            finally:
                task.cancel()

        app.router.lifespan_context = with_probe
    try:
        uvicorn.run(asgi, host=args.host, port=args.port, log_level="warning", lifespan="on")
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
