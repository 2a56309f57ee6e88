"""Console sessions end on the server, and sign-in does not tell which usernames exist.

A session cookie copied before its sign-out (from a shared computer, a proxy log) is refused after
it, and the refusal goes on the audit chain. An unknown name, a wrong password and a locked account
get the same page and status and cost one Argon2 verification each.
"""

import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from console.session import COOKIE_NAME
from console.settings import ConsoleSettings
from console.users import service as users
from registry.db import unit_of_work
from shuyuan.app import app_state
from shuyuan.embedded import build_embedded

SETTINGS = ConsoleSettings(environment="test", max_failed_logins=3, lockout_s=60, lockout_max_s=600)
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    """The embedded exchange with its console, and its database file."""
    data = tmp_path_factory.mktemp("console-session")
    with TestClient(build_embedded(data, console_settings=SETTINGS).app) as client:
        yield client, data / "shuyuan.db"


def _user(client: TestClient) -> str:
    name = f"stew-{uuid.uuid4().hex[:8]}"
    with unit_of_work(app_state(client.app).engine) as session:  # type: ignore[arg-type]
        users.create(session=session, username=name, password=PASSWORD, role="steward", settings=SETTINGS)
    return name


def _csrf(client: TestClient, path: str = "/console/login") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, "no CSRF field on the page"
    return match.group(1)


def _login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    data = {"username": username, "password": password, "csrf_token": _csrf(client)}
    return client.post("/console/login", data=data, follow_redirects=False)


def _audit(db: Path, user: str, *, wait_for: str | None = None) -> list[tuple[str, str, str | None]]:
    """(action, decision, reason) of the user's console records; waits for `wait_for` to be written."""
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT action, decision, reason FROM audit_entry WHERE actor_user = ? ORDER BY seq", (user,)
            ).fetchall()
        if wait_for is None or any(r[0] == wait_for for r in rows) or time.monotonic() > deadline:
            return [tuple(r) for r in rows]
        time.sleep(0.05)


def test_a_session_cookie_replayed_after_sign_out_is_refused_and_audited(
    console: tuple[TestClient, Path],
) -> None:
    client, db = console
    client.cookies.clear()
    name = _user(client)
    assert _login(client, name).status_code == 303
    assert client.get("/console/", follow_redirects=False).status_code == 200
    stolen = client.cookies[COOKIE_NAME]  # copied while signed in
    token = _csrf(client, "/console/")
    assert (
        client.post("/console/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    )

    attacker = TestClient(client.app)  # type: ignore[arg-type]  # another browser; no second lifespan
    attacker.cookies.set(COOKIE_NAME, stolen, path="/console")
    replayed = attacker.get("/console/", follow_redirects=False)
    assert replayed.status_code == 303 and "/console/login" in replayed.headers["location"]
    hx = attacker.get("/console/elements", headers={"HX-Request": "true"}, follow_redirects=False)
    assert hx.status_code == 204 and "/console/login" in hx.headers["HX-Redirect"]
    rows = _audit(db, name, wait_for="console.login_ended_session")
    assert ("console.login", "allow", None) in rows
    assert ("console.login_ended_session", "deny", "ended_session") in rows

    # Signing in again gives a new session that works; the old cookie stays refused.
    assert _login(client, name).status_code == 303
    assert client.get("/console/", follow_redirects=False).status_code == 200
    attacker.cookies.set(COOKIE_NAME, stolen, path="/console")
    assert attacker.get("/console/", follow_redirects=False).status_code == 303


def _page(response: Any) -> str:
    """The sign-in page without what differs per request (CSRF token, the name typed back)."""
    text = response.text
    for token in re.findall(r'name="csrf_token" value="([^"]+)"', text):
        text = text.replace(token, "")
    return re.sub(r'name="username" value="[^"]*"', "", text)


def test_unknown_user_wrong_password_and_locked_account_look_the_same(
    console: tuple[TestClient, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, db = console
    client.cookies.clear()
    verifications: list[str] = []
    real = users._verify

    def counting(password_hash: str, password: str) -> bool:
        verifications.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(users, "_verify", counting)
    name = _user(client)
    for _ in range(SETTINGS.max_failed_logins):
        _login(client, name, "wrong password!")
    seen = {}
    for case, (username, password) in {
        "unknown": (f"nobody-{uuid.uuid4().hex[:6]}", "wrong password!"),
        "wrong": (_user(client), "wrong password!"),
        "locked": (name, PASSWORD),  # the right password, but the account is locked
    }.items():
        client.cookies.clear()
        verifications.clear()
        response = _login(client, username, password)
        assert len(verifications) == 1, case  # one Argon2 verification on every path
        seen[case] = (response.status_code, _page(response))
    assert seen["unknown"] == seen["wrong"] == seen["locked"]
    assert seen["locked"][0] == 401
    # The audit record still tells the officer what happened.
    rows = _audit(db, name, wait_for="console.login_locked")
    assert ("console.login_locked", "deny", "locked") in rows
