"""The README's "Running the parts separately", run as written: every command of its shell block.

Only the addresses change (a fresh database of this test, the test broker, a free port) and the
processes get a Kafka namespace of their own, so that nothing here meets another test's topics or
groups; the commands themselves are the README's, in a shell, from a folder laid out like the
repository's root.
"""

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.samples.data import sample_subjects

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- readme-parts:begin", "<!-- readme-parts:end -->"


def readme_block() -> str:
    """The shell block between the README's markers."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(BEGIN) : readme.index(END)]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the README's marked section holds no ```sh block"
    return match.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _retarget(block: str, *, database_url: str, bootstrap: str, port: int) -> str:
    """The block with this test's addresses in place of the README's (each must be there to replace)."""
    replacements = {
        "postgresql+psycopg://shuyuan:shuyuan@127.0.0.1:54329/shuyuan": database_url,
        "127.0.0.1:9092": bootstrap,
        "127.0.0.1:8000": f"127.0.0.1:{port}",
        "--port 8000": f"--port {port}",
    }
    for readme_value, ours in replacements.items():
        assert readme_value in block, f"the README no longer says {readme_value!r}: update this test"
        block = block.replace(readme_value, ours)
    return block


def test_the_readme_commands_run_the_exchange_as_separate_processes(
    pg_database: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = _free_port()
    script = _retarget(readme_block(), database_url=pg_database, bootstrap=kafka_bootstrap, port=port)
    # A folder laid out like the repository's root: the README's relative paths, with `var/` fresh.
    for name in (".venv", "connectors"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = os.environ | {"SHUYUAN_KAFKA_NAMESPACE": f"readme-{uuid.uuid4().hex[:8]}"}
    out, log = tmp_path / "stdout.txt", tmp_path / "processes.log"
    with out.open("wb") as stdout, log.open("wb") as stderr:
        shell = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # the README's background jobs share the shell's process group
        )
    try:
        rc = shell.wait(timeout=300)
        printed = out.read_text(encoding="utf-8")
        assert rc == 0, f"exit {rc}\n{printed}\n{log.read_text(encoding='utf-8')[-4000:]}"
        answer = json.loads(printed[printed.index("{") :])
        assert answer["status"] == "complete", printed + log.read_text(encoding="utf-8")[-4000:]
        person = sample_subjects().demo_person
        departments = tmp_path / "var" / "departments"
        with sqlite3.connect(departments / "psb.sqlite") as conn:
            row = conn.execute("SELECT name FROM hukou_person WHERE resident_id = ?", (person,)).fetchone()
        values = {r["code"]: (r["source"], r["value"]) for r in answer["results"]}
        assert values["person.name"] == ("psb", row[0])
        assert values["person.si_contribution_base"][0] == "hrss"
        # The sealer the README starts chains the query's audit, its release last.
        engine = create_engine(pg_database)
        try:
            deadline = time.monotonic() + 30
            actions: list[str] = []
            while time.monotonic() < deadline and "query.released" not in actions:
                with engine.connect() as conn:
                    actions = list(
                        conn.execute(
                            text("SELECT action FROM audit_entry WHERE request_id = :q ORDER BY seq"),
                            {"q": answer["query_id"]},
                        ).scalars()
                    )
                time.sleep(0.5)
        finally:
            engine.dispose()
        assert actions[0] == "query.received" and actions[-1] == "query.released", actions
        assert actions.count("source.dispatched") == 2, actions  # psb and hrss, each audited ahead
    finally:
        for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
            with contextlib.suppress(ProcessLookupError):  # every job of the group has exited
                os.killpg(shell.pid, sig)
            time.sleep(grace)
