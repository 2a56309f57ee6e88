"""The fault suite's world: a private broker and PostgreSQL, and the exchange as real processes.

The suite pauses, restarts and stops the broker and the database, so it never uses the shared ones
of `make test`: deploy/kafka.sh and deploy/postgres.sh start a pair of its own (a state dir under
/tmp, free loopback ports). The gateway, the psb and hrss connectors and the audit sealer run as
`python -m shuyuan ...` subprocesses, as bench/query_bench.py starts them, each restartable alone.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Short group sessions so a crashed member's partitions move on quickly (the config's minimum is 6 s);
# static membership (an instance id) gives a restarted member its partitions back at once.
SESSION_TIMEOUT_MS = 6_000
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "faults"
HEARTBEAT_MS = 1_000
# The per-client rate limit would refuse the suite's single client system: raised far out of reach.
RATE_LIMITS = {"SHUYUAN_RATE_LIMIT_PER_S": "1000000", "SHUYUAN_RATE_LIMIT_BURST": "1000000"}


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_config(dept: str) -> dict[str, Any]:
    """A sample connector's YAML (connectors/samples/<dept>.yaml), parsed."""
    path = ROOT / "connectors" / "samples" / f"{dept}.yaml"
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


class ServiceError(RuntimeError):
    """A deploy script failed; the message carries its output."""


@dataclass
class PrivateServices:
    """A broker and a PostgreSQL cluster of the suite's own, on free ports, state under `state`."""

    state: Path
    kafka_port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    pg_port: int = field(default_factory=free_port)

    @classmethod
    def in_tmp(cls) -> "PrivateServices":
        """Services with a fresh state dir in /tmp (the postgres OS user must be able to reach it)."""
        state = Path(tempfile.mkdtemp(prefix="shuyuan-faults-"))
        state.chmod(0o755)
        return cls(state)

    @property
    def bootstrap(self) -> str:
        """The private broker's bootstrap address."""
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        """The private cluster's test database (deploy/postgres.sh creates role and database)."""
        return f"postgresql+psycopg://shuyuan:shuyuan@127.0.0.1:{self.pg_port}/shuyuan_test"

    def _env(self) -> dict[str, str]:
        return os.environ | {
            "SHUYUAN_STATE_DIR": str(self.state),
            "SHUYUAN_KAFKA_PORT": str(self.kafka_port),
            "SHUYUAN_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "SHUYUAN_KAFKA_START_TIMEOUT": "120",
            "SHUYUAN_PG_PORT": str(self.pg_port),
        }

    def _script(self, name: str, command: str) -> None:
        done = subprocess.run(
            [str(ROOT / "deploy" / name), command],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=240,
        )
        if done.returncode != 0:
            raise ServiceError(f"deploy/{name} {command} failed ({done.returncode}):\n{done.stderr[-3000:]}")

    def kafka(self, command: str) -> None:
        """deploy/kafka.sh start|stop on the private broker."""
        self._script("kafka.sh", command)

    def postgres(self, command: str) -> None:
        """deploy/postgres.sh start|stop on the private cluster."""
        self._script("postgres.sh", command)

    def broker_pid(self) -> int:
        """The broker JVM's pid, from the pid file kafka.sh writes."""
        return int((self.state / "kafka" / "kafka.pid").read_text().strip())

    def signal_broker(self, sig: signal.Signals) -> None:
        """Send a signal (SIGSTOP, SIGCONT) to the broker JVM."""
        os.kill(self.broker_pid(), sig)

    def start(self) -> None:
        """Start both services (kafka.sh waits until the broker serves requests)."""
        self.kafka("start")
        self.postgres("start")

    def stop(self) -> None:
        """Stop both and remove their state, whatever state they are in."""
        # A stopped JVM cannot shut down: resume it first (harmless if it runs or is gone).
        with contextlib.suppress(OSError, ValueError):
            self.signal_broker(signal.SIGCONT)
        errors: list[Exception] = []
        for stop in (lambda: self.kafka("stop"), lambda: self.postgres("stop")):
            try:
                stop()
            except Exception as exc:  # stop the other one anyway, report both
                errors.append(exc)
        # The broker's own log (group coordinator decisions) for a post-mortem, beside the processes'.
        with contextlib.suppress(OSError):
            shutil.copytree(self.state / "kafka" / "logs", ARTIFACTS / "kafka-logs", dirs_exist_ok=True)
        # As root the cluster may live outside the state dir; postgres.location names it.
        location = self.state / "postgres.location"
        if location.exists():
            shutil.rmtree(location.read_text().strip(), ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)
        if errors:
            raise ServiceError("; ".join(str(e) for e in errors))


@dataclass
class Exchange:
    """The gateway, the connectors and the sealer as processes on the private services."""

    services: PrivateServices
    work: Path
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The gateway's base URL (the same port across restarts: connectors know it)."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment of every process of the exchange."""
        return os.environ | {
            "PYTHONPATH": str(ROOT),  # the venv's editable install may point at another checkout
            "SHUYUAN_DATABASE_URL": self.services.database_url,
            "SHUYUAN_TRANSPORT": "kafka",
            "SHUYUAN_KAFKA_BOOTSTRAP": self.services.bootstrap,
            "SHUYUAN_ENVIRONMENT": "test",
            **RATE_LIMITS,
            # The audit chain: published to Kafka (acks=all) before anything leaves, sealed by the sealer.
            "SHUYUAN_AUDIT_PATH": "kafka",
            "SHUYUAN_AUDIT_KEY_DIR": str(self.audit_key_dir),
            "SHUYUAN_AUDIT_ARCHIVE_DIR": str(self.work / "audit-archive"),
            "SHUYUAN_AUDIT_CHECKPOINT_INTERVAL_S": "5",
            "SHUYUAN_AUDIT_SEALER_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
            "SHUYUAN_AUDIT_SEALER_INSTANCE_ID": "faults-sealer-1",
        }

    @property
    def audit_key_dir(self) -> Path:
        """Where the sealer keeps its audit key (the public half is the pinned key of verify)."""
        return self.work / "keys" / "audit"

    def shuyuan(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a `shuyuan` CLI command to completion."""
        return subprocess.run(
            [sys.executable, "-m", "shuyuan", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def load_samples(self) -> None:
        """The sample registry, systems and keys into the database, department SQLite under work."""
        url = self.services.database_url
        done = self.shuyuan("sample", "load", "--database-url", url, "--data-dir", str(self.work))
        if done.returncode != 0:
            raise ServiceError(f"sample load failed:\n{done.stdout}\n{done.stderr}")

    def connector_config(self, dept: str, instance: str, *, static: bool = True) -> Path:
        """The sample connector's YAML with short sessions and, for a member that restarts in place, a
        static instance id (docs/operations.md: an instance added for a while stays dynamic, so that
        stopping it hands its partitions over at once instead of after the session timeout)."""
        config = sample_config(dept)
        config.setdefault("kafka", {}).update(
            session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_interval_ms=HEARTBEAT_MS
        )
        if static:
            config["kafka"]["group_instance_id"] = f"faults-{dept}-{instance}"
        path = self.work / f"{dept}-{instance}.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        return path

    def define(self) -> None:
        """The command of each process: gateway, psb-1, hrss-1, sealer."""
        self.commands["gateway"] = ["gateway", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        for dept in ("psb", "hrss"):
            self.commands[f"{dept}-1"] = self.connector_command(dept, "1")
        self.commands["sealer"] = ["audit", "sealer"]

    def connector_command(self, dept: str, instance: str, *, static: bool = True) -> list[str]:
        """`shuyuan connector run` for one instance of a department's connector."""
        keys = self.work / "keys"
        return [
            "connector", "run",
            "--config", str(self.connector_config(dept, instance, static=static)),
            "--data-dir", str(self.work / "departments"),
            "--bootstrap", self.services.bootstrap,
            "--keys-dir", str(keys / "departments" / dept),
            # Only gateway-signed requests are answered; consumer keys come from the registry.
            "--gateway-jwks", str(keys / "gateway" / "request-jwks.json"),
            "--url", self.url,
            "--system-keys", str(keys / "systems"),
        ]  # fmt: skip

    def start(self, name: str) -> float:
        """Start (or restart) one process; the monotonic time it was spawned."""
        log = (self.work / f"{name}.log").open("ab")  # appended: a restart keeps the earlier lines
        t0 = time.monotonic()
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "shuyuan", *self.commands[name]],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of pytest reaches only pytest, which then ends these
        )
        log.close()
        return t0

    def kill(self, name: str) -> None:
        """kill -9 one process and reap it."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)

    def terminate(self, name: str, timeout: float = 20) -> int:
        """SIGTERM one process, SIGKILL after `timeout`; its exit code."""
        proc = self.procs.pop(name)
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(10)

    def dead(self) -> dict[str, int]:
        """The processes that exited on their own, with their exit codes."""
        return {name: code for name, proc in self.procs.items() if (code := proc.poll()) is not None}

    def log(self, name: str, tail: int = 4000) -> str:
        """The end of one process's log."""
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def stop_all(self) -> None:
        """End every process this exchange started, by pid (SIGTERM, then SIGKILL)."""
        for name in list(self.procs):
            self.terminate(name, timeout=10)
