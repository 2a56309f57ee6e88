"""`shuyuan demo` against `shuyuan run` as real processes, as a newcomer runs it on a fresh clone:
every step of the scenarios behaves as told (exit 0); run again, still (the demo is repeatable)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shuyuan(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "shuyuan", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_demo_passes_against_make_run_and_again(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    log = (tmp_path / "run.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "shuyuan", "run", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-2000:]
            time.sleep(0.3)
        for attempt in ("first", "second"):
            done = _shuyuan("demo", "--url", base, cwd=tmp_path)
            assert done.returncode == 0, f"{attempt} run:\n{done.stdout}\n{done.stderr}"
            assert "Every step behaved as told." in done.stdout
            assert "✗" not in done.stdout
        assert "told to amr, fso" in done.stdout and "not_necessary_for_purpose" in done.stdout
        assert "correction.recall" in done.stdout
        assert "the applicant sees" in done.stdout  # the citizen page, signed in as the person
        assert "== B." in done.stdout and "not_participant" in done.stdout  # the newborn bundle
    finally:
        server.terminate()
        server.wait(15)


def test_the_demo_says_so_when_no_exchange_answers(tmp_path: Path) -> None:
    done = _shuyuan("demo", "--url", f"http://127.0.0.1:{_free_port()}", cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "start one with `make run`" in done.stderr
