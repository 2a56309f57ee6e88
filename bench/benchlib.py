"""Helpers shared by the benchmark scripts: CPU accounting from /proc, percentiles, child processes.

Linux only (reads /proc). Nothing here is imported by the product.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- CPU accounting ------------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_seconds(pid: int, tid: int) -> float | None:
    """utime + stime of one thread."""
    try:
        with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLK_TCK, total / CLK_TCK


def _scan(match: Callable[[str, bytes], bool]) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if match(comm, cmdline):
            pids.append(int(entry))
    return pids


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on the machine (postmaster, backends, walwriter, ...)."""
    return _scan(lambda comm, _cmd: comm == "postgres")


def kafka_pids() -> list[int]:
    """The Kafka broker JVM(s)."""
    return _scan(lambda _comm, cmd: b"kafka.Kafka" in cmd)


@dataclass
class CpuMeter:
    """CPU seconds spent by named groups of processes between start() and stop().

    A group is a fixed pid list or a function returning the current pids (PostgreSQL forks backends).
    A process that appears between the two snapshots counts from zero; one that exits is lost.
    """

    groups: Mapping[str, Sequence[int] | Callable[[], Iterable[int]]]
    _start: dict[str, dict[int, float]] = field(default_factory=dict)
    _machine: tuple[float, float] = (0.0, 0.0)
    _t0: float = 0.0

    def _snapshot(self) -> dict[str, dict[int, float]]:
        snap: dict[str, dict[int, float]] = {}
        for name, pids in self.groups.items():
            current = pids() if callable(pids) else pids
            snap[name] = {}
            for pid in current:
                cpu = proc_cpu_seconds(pid)
                if cpu is not None:
                    snap[name][pid] = cpu
        return snap

    def start(self) -> None:
        """Take the first snapshot."""
        self._t0 = time.monotonic()
        self._machine = machine_cpu_seconds()
        self._start = self._snapshot()

    def stop(self) -> dict[str, object]:
        """CPU per group over the window: seconds, and percent of one core."""
        wall = time.monotonic() - self._t0
        end = self._snapshot()
        busy1, total1 = machine_cpu_seconds()
        out: dict[str, object] = {"wall_s": round(wall, 3)}
        per_group = {}
        for name, pids in end.items():
            before = self._start.get(name, {})
            spent = sum(cpu - before.get(pid, 0.0) for pid, cpu in pids.items())
            per_group[name] = {"cpu_s": round(spent, 2), "core_pct": round(100 * spent / wall, 1)}
        out["groups"] = per_group
        busy = busy1 - self._machine[0]
        total = total1 - self._machine[1]
        out["machine_busy_pct"] = round(100 * busy / total, 1) if total > 0 else None
        out["machine_busy_cores"] = round(busy / wall, 2)
        return out


# --- statistics ----------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_summary(latencies_s: list[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds."""
    values = sorted(latencies_s)
    return {
        "p50_ms": round(1000 * percentile(values, 50), 2),
        "p90_ms": round(1000 * percentile(values, 90), 2),
        "p99_ms": round(1000 * percentile(values, 99), 2),
        "max_ms": round(1000 * values[-1], 2) if values else float("nan"),
    }


# --- child processes -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Children:
    """Processes this benchmark started; stop() ends exactly these, by pid, and nothing else."""

    def __init__(self) -> None:
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(
        self, name: str, args: list[str], *, env: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """Start `args` in its own session (Ctrl-C reaches only the benchmark, which then stops it)."""
        out = log.open("wb")
        proc = subprocess.Popen(
            args, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        self._procs.append((name, proc))
        return proc

    def check_alive(self) -> None:
        """Raise if a child has exited."""
        for name, proc in self._procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} (pid {proc.pid}) exited with {proc.returncode}")

    def stop(self, name: str | None = None, *, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL after `timeout`, for one child or all of them (newest first)."""
        chosen = [(n, p) for n, p in self._procs if name is None or n == name]
        for _n, proc in reversed(chosen):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _n, proc in reversed(chosen):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._procs = [(n, p) for n, p in self._procs if (n, p) not in chosen]

    def pid(self, name: str) -> int:
        """The pid of a running child by name."""
        for n, proc in self._procs:
            if n == name:
                return proc.pid
        raise KeyError(name)


def shuyuan_cmd(*args: str) -> list[str]:
    """`python -m shuyuan ARGS` with this interpreter (the project's venv)."""
    return [sys.executable, "-m", "shuyuan", *args]
