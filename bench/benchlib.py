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


def listening_pid(port: int) -> int | None:
    """The process listening on this TCP port (any address), from /proc/net/tcp{,6} and fd links."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{parts[9]}]")
        except OSError:
            continue
    if not inodes:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                    return int(entry)
        except OSError:
            continue
    return None


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return int(raw[raw.rindex(b")") + 2 :].split()[1])


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def server_pids(
    port: int, *, with_children: bool, child_filter: Callable[[bytes], bool] | None = None
) -> Callable[[], list[int]]:
    """A function giving the server listening on `port` (and, for PostgreSQL, its forked backends).

    Other brokers or clusters on the machine (another session's tests) are not counted.
    """
    root = listening_pid(port)

    def pids() -> list[int]:
        if root is None:
            return []
        if not with_children:
            return [root]
        children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == root]
        if child_filter is not None:
            children = [c for c in children if child_filter(_cmdline(c))]
        return [root, *children]

    return pids


def kafka_pids(bootstrap: str = "127.0.0.1:9092") -> Callable[[], list[int]]:
    """The broker JVM behind the first bootstrap address."""
    return server_pids(int(bootstrap.split(",")[0].rsplit(":", 1)[1]), with_children=False)


def postgres_pids(port: int = 54329, database: str | None = None) -> Callable[[], list[int]]:
    """The postmaster on this port and its children: the shared ones (walwriter, checkpointer, ...)
    and, when `database` is given, only the client backends of that database (a cluster shared with
    other sessions' tests serves their databases too)."""
    if database is None:
        return server_pids(port, with_children=True)
    mine = f" {database} ".encode()

    def keep(cmdline: bytes) -> bool:
        is_client_backend = b"(" in cmdline and b")" in cmdline  # "postgres: user db 127.0.0.1(port) ..."
        return not is_client_backend or mine in cmdline

    return server_pids(port, with_children=True, child_filter=keep)


def wait_for_quiet(max_busy_cores: float = 0.3, *, sample_s: float = 1.0, timeout_s: float = 60.0) -> float:
    """Wait (bounded) until the machine's busy cores over `sample_s` fall below a threshold.

    Returns the last measured busy cores; other sessions' work on a shared machine skews figures.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        b0, _ = machine_cpu_seconds()
        time.sleep(sample_s)
        b1, _ = machine_cpu_seconds()
        busy = (b1 - b0) / sample_s
        if busy <= max_busy_cores or time.monotonic() > deadline:
            return round(busy, 2)


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
        # Everything else: the kernel's own work (softirq of loopback traffic), this script, and any
        # other session's processes on a shared machine.
        ours = sum(g["cpu_s"] for g in per_group.values())
        out["other_core_pct"] = round(100 * (busy - ours) / wall, 1)
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
        self, name: str, args: list[str], *, env: Mapping[str, str], log: Path, cwd: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        """Start `args` in its own session (Ctrl-C reaches only the benchmark, which then stops it)."""
        out = log.open("wb")
        proc = subprocess.Popen(
            args, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
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


def source_info(source: Path) -> dict[str, object]:
    """Which code was measured: the commit, and whether the work tree differed from it."""
    env = os.environ | {"GIT_OPTIONAL_LOCKS": "0"}  # read-only: never refresh the index
    marker = source / ".bench-ref"
    if marker.exists():  # a `git archive` snapshot made by --ref
        return {"source": str(source), "commit": marker.read_text().strip(), "dirty": False}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"source": str(source), "commit": None, "dirty": None}
    return {"source": str(source), "commit": commit, "dirty": bool(dirty)}


def snapshot(ref: str, into: Path) -> Path:
    """Extract the tree of a commit with `git archive` (read-only for the repository) into a folder."""
    env = os.environ | {"GIT_OPTIONAL_LOCKS": "0"}
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.Popen(["git", "archive", commit], cwd=ROOT, env=env, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {commit} failed")
    (into / ".bench-ref").write_text(commit + "\n")
    return into


def shuyuan_cmd(*args: str) -> list[str]:
    """`python -m shuyuan ARGS` with this interpreter (the project's venv)."""
    return [sys.executable, "-m", "shuyuan", *args]
