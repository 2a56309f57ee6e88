"""The `shuyuan` command in-process (typer's CliRunner): help, migrations, sample data, and the demo
query that `make run` prints, which must work exactly as printed."""

import json
import re
import shlex
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner

from shuyuan import cli, sample_catalogue
from shuyuan.embedded import build_embedded

runner = CliRunner()
REGISTRY_TABLES = {
    "department",
    "data_element",
    "service_item",
    "material",
    "material_element",
    "sharing_agreement",
}
GATEWAY_TABLES = {"audit_entry", "query_record"}


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def _curl(text: str, token: str = "") -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL, headers and JSON body of the curl line in the demo text, with its two shell
    substitutions done: the token (`shuyuan token ...`) and the time (`date -u ...`)."""
    url = re.search(r"curl -s -X POST (\S+)", text)
    headers = dict(re.findall(r"-H '([^:]+): ([^']+)'", text))
    bearer = re.search(r'-H "Authorization: Bearer \$\((\.venv/bin/shuyuan token [^)]+)\)"', text)
    data = re.search(r"-d '(.+)'", text)
    assert url and data and bearer, text
    headers["Authorization"] = f"Bearer {token}"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = data.group(1).replace("'\"$(date -u +%FT%TZ)\"'", now)
    return url.group(1), headers, json.loads(body)


def _token_line(text: str) -> list[str]:
    """The arguments of the `shuyuan token` command inside the curl line."""
    found = re.search(r"\$\(\.venv/bin/shuyuan (token [^)]+)\)", text)
    assert found, text
    return shlex.split(found.group(1))


def _cli_line(text: str) -> list[str]:
    """The arguments of the printed `shuyuan query` command (after the program name)."""
    start = text.index(".venv/bin/shuyuan query")
    end = text.index("\nor with curl")
    args = shlex.split(text[start:end].replace("\\\n", " "))
    assert args[0] == ".venv/bin/shuyuan"
    return args[1:]


def _expected_values(data_dir: Path, person: str) -> dict[str, Any]:
    psb = sqlite3.connect(data_dir / "departments" / "psb.sqlite")
    hrss = sqlite3.connect(data_dir / "departments" / "hrss.sqlite")
    try:
        name, household = psb.execute(
            "SELECT name, household_no FROM hukou_person WHERE resident_id = ?", (person,)
        ).fetchone()
        members = psb.execute(
            "SELECT name, relation_to_head, birth_date FROM hukou_person "
            "WHERE household_no = ? ORDER BY rowid",
            (household,),
        ).fetchall()
        (base,) = hrss.execute(
            "SELECT contribution_base FROM si_insured WHERE resident_id = ?", (person,)
        ).fetchone()
    finally:
        psb.close()
        hrss.close()
    return {
        "person.name": name,
        "person.household_members": [{"name": n, "relation": r, "birth_date": b} for n, r, b in members],
        "person.si_contribution_base": base,
    }


def _assert_demo_answer(answer: dict[str, Any], data_dir: Path, person: str) -> None:
    assert answer["status"] == "complete"
    expected = _expected_values(data_dir, person)
    assert {r["code"]: r["value"] for r in answer["results"]} == expected
    # Two sources, as the demo promises: 公安局 and 人社局.
    assert {r["source"] for r in answer["results"]} == {"psb", "hrss"}


def test_help_lists_every_command() -> None:
    result = runner.invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "query", "db", "gateway", "connector", "sample"):
        assert re.search(rf"\b{command}\b", result.output), command
    assert "数源" in result.output


@pytest.mark.parametrize("group", ["db", "sample", "gateway", "connector"])
def test_every_group_has_help(group: str) -> None:
    result = runner.invoke(cli.app, [group, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_the_connector_runs_requests_and_events_apart() -> None:
    result = runner.invoke(cli.app, ["connector", "--help"])
    assert re.search(r"\bevents\b", result.output) and re.search(r"\brun\b", result.output)
    missing = runner.invoke(
        cli.app, ["connector", "events", "--department", "fso", "--keys-dir", "/nonexistent"]
    )
    assert missing.exit_code == 2 and "no private keys" in missing.output
    publish = ["event", "publish", "--department", "xzsp", "--type", "license.issued"]
    publish += ["--subject-type", "enterprise", "--subject-id", "x", "--keys-dir", "/nonexistent"]
    assert runner.invoke(cli.app, [*publish, "--payload", "[]"]).exit_code == 2  # not an object
    assert "no private keys" in runner.invoke(cli.app, [*publish, "--payload", "{}"]).output


def test_db_upgrade_creates_every_table_and_can_run_again(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "gateway.db"
    for _ in range(2):
        result = runner.invoke(cli.app, ["db", "upgrade", "--database-url", f"sqlite:///{path}"])
        assert result.exit_code == 0, result.output
        assert "latest revision" in result.output
    assert _tables(path) >= REGISTRY_TABLES | GATEWAY_TABLES
    assert {"registry_alembic_version", "exchange_alembic_version"} <= _tables(path)
    assert _count(path, "department") == 0


def test_sample_load_is_idempotent(tmp_path: Path) -> None:
    path, data_dir = tmp_path / "gateway.db", tmp_path / "data"
    args = ["sample", "load", "--database-url", f"sqlite:///{path}", "--data-dir", str(data_dir)]
    first = runner.invoke(cli.app, args)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("loaded; demo person ")
    # The department registers go to <data-dir>/departments, where `connector run --data-dir` looks.
    registers = {d: (data_dir / "departments" / f"{d}.sqlite").read_bytes() for d in ("psb", "hrss", "amr")}
    counts = {t: _count(path, t) for t in ("department", "data_element", "service_item", "sharing_agreement")}
    assert counts == {
        "department": len(sample_catalogue.DEPARTMENTS),
        "data_element": len(sample_catalogue.ELEMENTS),
        "service_item": len(sample_catalogue.SERVICE_ITEMS),
        "sharing_agreement": len(sample_catalogue.AGREEMENTS),
    }

    second = runner.invoke(cli.app, args)
    assert second.exit_code == 0, second.output
    assert second.output.startswith("already loaded; demo person ")
    assert second.output.split()[-1] == first.output.split()[-1]
    assert {t: _count(path, t) for t in counts} == counts
    assert {d: (data_dir / "departments" / f"{d}.sqlite").read_bytes() for d in registers} == registers


def _serve_in_process(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Make `uvicorn.run` record the app instead of serving it."""
    import uvicorn

    served: dict[str, Any] = {}

    def _run(app: FastAPI, **kwargs: Any) -> None:
        served["app"] = app
        served.update(kwargs)

    monkeypatch.setattr(uvicorn, "run", _run)
    return served


@contextmanager
def _listening(app: FastAPI, port: int) -> Iterator[None]:
    """Serve the app on 127.0.0.1:port in a thread (the CLI talks real HTTP to it)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the gateway did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_prints_a_query_that_works_against_the_app_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # `make run` serves from the checkout: var/ (data and keys) is relative
    port = _free_port()
    served = _serve_in_process(monkeypatch)
    result = runner.invoke(cli.app, ["run", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", port)
    base = f"http://127.0.0.1:{port}"
    url, _headers, body = _curl(result.output)
    assert url == f"{base}/v1/queries"
    person = body["subject"]["id"]
    # The sample systems got their key pairs at first start, readable by their owner only.
    key_file = tmp_path / "var" / "keys" / "systems" / "zjj-housing.jwk"
    assert key_file.stat().st_mode & 0o777 == 0o600

    with _listening(served["app"], port):
        # The CLI line, exactly as printed: a token with the system's key, then the query.
        answer = runner.invoke(cli.app, _cli_line(result.output))
        assert answer.exit_code == 0, answer.output
        _assert_demo_answer(json.loads(answer.output), tmp_path / "var", person)
        assert (key_file.parent / "zjj-housing.token").stat().st_mode & 0o777 == 0o600
        # The curl line: its token command prints a token that the gateway accepts.
        token = runner.invoke(cli.app, _token_line(result.output))
        assert token.exit_code == 0, token.output
        url, headers, body = _curl(result.output, token.output.strip())
        response = httpx.post(url, json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "complete"
        # Over the wire the values are sealed for 住建局: nothing of the register in the clear.
        assert _expected_values(tmp_path / "var", person)["person.name"] not in response.text


def test_query_exits_1_on_an_error_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    embedded = build_embedded(tmp_path / "var")
    port = _free_port()
    args = [
        "query",
        "person.name",
        "--as",
        "zjj",
        "--item",
        "330100-GZF-001",
        "--case",
        "C-1",
        "--on-behalf-of",
        "wang.fang",
    ]
    bad_id = embedded.subjects.demo_person[:17] + ("0" if embedded.subjects.demo_person[17] != "0" else "1")
    with _listening(embedded.app, port):
        result = runner.invoke(cli.app, [*args, "--person", bad_id, "--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["reason"] == "invalid_subject_id"


@pytest.mark.parametrize(
    "subject_args",
    [[], ["--person", "110105198804190479", "--enterprise", "91510107848066859G"]],
    ids=["neither", "both"],
)
def test_query_needs_exactly_one_subject(subject_args: list[str]) -> None:
    args = [
        "query",
        "person.name",
        "--as",
        "zjj",
        "--item",
        "330100-GZF-001",
        "--case",
        "C-1",
        "--on-behalf-of",
        "wang.fang",
        *subject_args,
    ]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2
    assert "exactly one of --person or --enterprise" in result.output


def test_query_says_when_the_gateway_is_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    build_embedded(tmp_path / "var")  # the keys exist; nothing listens on port 9
    args = [
        "query",
        "person.name",
        "--as",
        "zjj",
        "--item",
        "X-1",
        "--case",
        "C-1",
        "--on-behalf-of",
        "wang.fang",
        "--person",
        "1" * 18,
    ]
    result = runner.invoke(cli.app, [*args, "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot reach the gateway at http://127.0.0.1:9" in result.output


def test_demo_commands_name_a_query_id_the_api_accepts() -> None:
    from exchange.queries.models import QueryIn

    _url, _headers, body = _curl(cli.demo_commands("http://h:1", "110105198804190479"))
    assert QueryIn.model_validate(body).query_id == body["query_id"]
    required = {name for name, field in QueryIn.model_fields.items() if field.is_required()}
    assert set(body) == required  # every required field, requested_at included (callbacks are optional)
