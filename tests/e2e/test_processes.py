"""End to end: the gateway and two connectors as real processes, a query over real HTTP and Kafka."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.samples.data import sample_subjects

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.terminate()
    for proc in started:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _serving(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "shuyuan", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
    )


def test_gateway_and_connectors_as_processes(
    pg_database: str, kafka_bootstrap: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    env = os.environ | {
        "SHUYUAN_DATABASE_URL": pg_database,
        "SHUYUAN_TRANSPORT": "kafka",
        "SHUYUAN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "SHUYUAN_SOURCE_TIMEOUT_S": "5",
        "SHUYUAN_ENVIRONMENT": "test",
    }
    load = subprocess.run(
        [sys.executable, "-m", "shuyuan", "sample", "load", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert load.returncode == 0, load.stderr
    port = _free_port()
    processes.append(_spawn(["gateway", "serve", "--port", str(port)], env, tmp_path / "gateway.log"))
    for dept in ("psb", "hrss"):
        processes.append(
            _spawn(
                [
                    "connector",
                    "run",
                    "--config",
                    f"connectors/samples/{dept}.yaml",
                    "--data-dir",
                    str(tmp_path / "departments"),
                    "--bootstrap",
                    kafka_bootstrap,
                    "--keys-dir",
                    str(tmp_path / "keys" / "departments" / dept),
                    # It answers only requests signed by the gateway key it pins, and finds the
                    # consumer's encryption key in the registry as its department's system.
                    *("--gateway-jwks", str(tmp_path / "keys" / "gateway" / "request-jwks.json")),
                    *(
                        "--url",
                        f"http://127.0.0.1:{port}",
                        "--system-keys",
                        str(tmp_path / "keys" / "systems"),
                    ),
                ],
                env,
                tmp_path / f"{dept}.log",
            )
        )
    base = f"http://127.0.0.1:{port}"
    person = sample_subjects().demo_person
    deadline = time.monotonic() + 150  # a loaded 2-core CI machine: process start-up is slow
    out: dict = {}
    attempt = 0
    # The first queries may time out while the connectors join their consumer groups. The consumer is
    # the CLI itself: it gets a token with the system's key, then decrypts and verifies the answers.
    while time.monotonic() < deadline:
        for proc in processes:
            assert proc.poll() is None, (tmp_path / "gateway.log").read_text() + "\n" + proc.args.__repr__()
        attempt += 1
        if not _serving(base):
            time.sleep(0.5)
            continue
        cli = [sys.executable, "-m", "shuyuan", "query", "--url", base, "--as", "zjj"]
        asked = subprocess.run(
            [
                *cli,
                *("--keys-dir", str(tmp_path / "keys" / "departments" / "zjj")),
                *("--system-keys", str(tmp_path / "keys" / "systems"), "--item", "330100-GZF-001"),
                *("--case", "ZJJ-E2E-1", "--on-behalf-of", "wang.fang", "--person", person),
                *("--query-id", f"e2e-{os.getpid()}-{attempt:04d}"),
                *("person.name", "person.si_status"),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        out = json.loads(asked.stdout) if asked.stdout.strip().startswith("{") else {"stderr": asked.stderr}
        if asked.returncode == 0 and out["status"] == "complete":
            break
        time.sleep(0.5)
    assert out.get("status") == "complete", out
    with sqlite3.connect(tmp_path / "departments" / "psb.sqlite") as conn:
        (name,) = conn.execute("SELECT name FROM hukou_person WHERE resident_id = ?", (person,)).fetchone()
    with sqlite3.connect(tmp_path / "departments" / "hrss.sqlite") as conn:
        (status,) = conn.execute(
            "SELECT insurance_status FROM si_insured WHERE resident_id = ?", (person,)
        ).fetchone()
    values = {r["code"]: (r["source"], r["value"]) for r in out["results"]}
    assert values == {"person.name": ("psb", name), "person.si_status": ("hrss", status)}
