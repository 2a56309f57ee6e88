"""Console sign-in, sessions, CSRF and roles, over HTTP without a browser (TestClient)."""

import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from console.session import COOKIE_NAME, session_serializer
from console.settings import ConsoleSettings
from console.users import service as users
from console.users.models import ConsoleUser
from protocol.clock import utcnow
from protocol.errors import InvalidRequest
from registry.db import unit_of_work
from registry.elements import service as elements
from shuyuan.app import app_state
from shuyuan.embedded import build_embedded

SETTINGS = ConsoleSettings(
    environment="test", max_failed_logins=3, lockout_s=60, lockout_max_s=600, idle_timeout_s=600
)
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One embedded exchange for the module (sign-ins are per test, with fresh cookies)."""
    embedded = build_embedded(tmp_path_factory.mktemp("console-auth"), console_settings=SETTINGS)
    with TestClient(embedded.app) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """The module's client with no cookies: a new visitor."""
    app_client.cookies.clear()
    return app_client


@pytest.fixture
def engine(app_client: TestClient) -> Engine:
    """The database behind the console."""
    return app_state(app_client.app).engine  # type: ignore[arg-type]


def make_user(engine: Engine, role: str = "steward", password: str = PASSWORD) -> str:
    """A new account with a unique name."""
    name = f"{role[:4]}-{uuid.uuid4().hex[:8]}"
    with unit_of_work(engine) as session:
        users.create(session=session, username=name, password=password, role=role, settings=SETTINGS)
    return name


def csrf(client: TestClient, path: str = "/console/login") -> str:
    """The synchronizer token of the current session, read from a form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, "no CSRF field on the page"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    """POST the sign-in form."""
    data = {"username": username, "password": password, "csrf_token": csrf(client)} | extra
    return client.post("/console/login", data=data, follow_redirects=False)


def test_anonymous_is_sent_to_sign_in_and_back(client: TestClient, engine: Engine) -> None:
    first = client.get("/console/elements?q=x", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/console/login?next=/console/elements%3Fq%3Dx"
    hx = client.get("/console/elements", headers={"HX-Request": "true"}, follow_redirects=False)
    assert hx.status_code == 204 and hx.headers["HX-Redirect"].startswith("/console/login")
    name = make_user(engine)
    response = login(client, name, next="/console/elements?q=x")
    assert response.status_code == 303 and response.headers["location"] == "/console/elements?q=x"
    assert client.get("/console/elements").status_code == 200


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/v1/queries", "/console\\..\\x"]
)
def test_next_cannot_leave_the_console(client: TestClient, engine: Engine, target: str) -> None:
    response = login(client, make_user(engine), next=target)
    assert response.headers["location"] == "/console/"


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, engine: Engine) -> None:
    name = make_user(engine)
    wrong = login(client, name, "not the password")
    unknown = login(client, "nobody-" + uuid.uuid4().hex[:6], "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in wrong.text and "用户名或密码不正确" in unknown.text
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_repeated_failures_lock_the_account_with_backoff(client: TestClient, engine: Engine) -> None:
    name = make_user(engine)
    for _ in range(SETTINGS.max_failed_logins - 1):
        assert login(client, name, "wrong password!").status_code == 401
    locked = login(client, name, "wrong password!")
    # Locked, but told as a wrong password is: the page does not reveal that the account exists.
    assert locked.status_code == 401 and "登录失败次数过多" in locked.text
    # Locked: even the right password is refused, and the password is not even checked.
    assert login(client, name).status_code == 401
    with unit_of_work(engine) as session:
        user = users.get_by_username(session=session, username=name)
        assert user is not None and user.failed_logins == SETTINGS.max_failed_logins
        first_lock = users.aware(user.locked_until) - utcnow()  # type: ignore[operator]
        user.locked_until = utcnow() - timedelta(seconds=1)  # the lock ran out
    assert timedelta(seconds=55) < first_lock <= timedelta(seconds=60)
    # One more failure after the lock: locked again, for twice as long (backoff).
    assert login(client, name, "wrong password!").status_code == 401
    with unit_of_work(engine) as session:
        user = users.get_by_username(session=session, username=name)
        second_lock = users.aware(user.locked_until) - utcnow()  # type: ignore[union-attr, operator]
        user.locked_until = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
    assert timedelta(seconds=115) < second_lock <= timedelta(seconds=120)
    assert login(client, name).status_code == 303
    with unit_of_work(engine) as session:
        user = users.get_by_username(session=session, username=name)
        assert user is not None and user.failed_logins == 0 and user.locked_until is None


def test_session_cookie_is_signed_httponly_lax_and_renewed_at_sign_in(
    client: TestClient, engine: Engine
) -> None:
    before = csrf(client)
    anonymous_cookie = client.cookies[COOKIE_NAME]
    response = login(client, make_user(engine))
    header = response.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/console" in header
    assert "Secure" not in header  # plain HTTP here; see the HTTPS test
    assert client.cookies[COOKIE_NAME] != anonymous_cookie
    assert csrf(client, "/console/") != before  # a new token after sign-in (no fixation)
    client.cookies.set(COOKIE_NAME, client.cookies[COOKIE_NAME][:-3] + "AAA", path="/console")
    assert client.get("/console/", follow_redirects=False).status_code == 303  # tampered: not signed in


def test_cookie_is_secure_over_https(app_client: TestClient, engine: Engine) -> None:
    # Not a context manager: a second lifespan would stop the module's app when it ends.
    https = TestClient(app_client.app, base_url="https://testserver")  # type: ignore[arg-type]
    page = https.get("/console/login")
    assert "Secure" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]


def _forged(client: TestClient, **times: float) -> None:
    uid_row = _any_user_id(client)
    with unit_of_work(app_state(client.app).engine) as session:  # type: ignore[arg-type]
        version = session.get(ConsoleUser, uid_row).session_version  # type: ignore[union-attr]
    payload = {"uid": uid_row, "sv": version, "csrf": "x" * 20, "lang": "en"} | times
    client.cookies.set(
        COOKIE_NAME, session_serializer(SETTINGS).dumps(payload), domain="testserver.local", path="/console"
    )


def _any_user_id(client: TestClient) -> int:
    from sqlmodel import select

    with unit_of_work(app_state(client.app).engine) as session:  # type: ignore[arg-type]
        return session.exec(select(ConsoleUser.id)).first()  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("age", "idle", "ends"),
    [(60, 30, False), (60, SETTINGS.idle_timeout_s + 5, True), (SETTINGS.absolute_timeout_s + 5, 10, True)],
)
def test_sessions_expire_when_idle_or_too_old(
    client: TestClient, engine: Engine, age: int, idle: int, ends: bool
) -> None:
    make_user(engine)
    now = time.time()
    _forged(client, iat=now - age, seen=now - idle)
    response = client.get("/console/", follow_redirects=False)
    if not ends:
        assert response.status_code == 200
        return
    assert response.status_code == 303 and response.headers["location"].endswith("&expired=1")
    page = client.get(response.headers["location"])
    assert "Your session expired" in page.text  # the language preference survived the expiry


def test_logout_ends_the_session(client: TestClient, engine: Engine) -> None:
    login(client, make_user(engine))
    token = csrf(client, "/console/")
    assert (
        client.post("/console/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    )
    assert client.get("/console/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_post_without_the_right_csrf_token_is_refused(
    client: TestClient, engine: Engine, token: str | None
) -> None:
    name = make_user(engine)
    login(client, name)
    data = {
        "code": "person.csrf_probe",
        "name_zh": "探针",
        "name_en": "Probe",
        "subject_type": "person",
        "source": "psb",
    }
    if token is not None:
        data["csrf_token"] = token
    refused = client.post("/console/elements/new", data=data, follow_redirects=False)
    assert refused.status_code == 403 and "安全令牌" in refused.text
    header = {"X-CSRF-Token": "wrong-token"}
    assert client.post("/console/elements/new", data=data, headers=header).status_code == 403
    # Sign-in itself is protected (login CSRF), and so is sign-out.
    client.cookies.clear()
    bare = client.post(
        "/console/login", data={"username": name, "password": PASSWORD}, follow_redirects=False
    )
    assert bare.status_code == 403
    with unit_of_work(engine) as session:  # nothing was written
        assert elements.get_by_code(session=session, code="person.csrf_probe") is None


def test_csrf_header_is_accepted_for_htmx(client: TestClient, engine: Engine) -> None:
    login(client, make_user(engine))
    token = csrf(client, "/console/")
    response = client.post(
        "/console/lang", data={"lang": "en"}, headers={"X-CSRF-Token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "Dashboard" in client.get("/console/").text


@pytest.mark.parametrize(
    ("role", "path", "allowed"),
    [
        ("viewer", "/console/elements", True),
        ("viewer", "/console/elements/new", False),
        ("viewer", "/console/elements/person.name/edit", False),
        ("viewer", "/console/elements/person.name/retire", False),
        ("viewer", "/console/accounts", False),
        ("steward", "/console/accounts", False),
        ("security_officer", "/console/accounts", True),
        ("security_officer", "/console/agreements", True),
        ("security_officer", "/console/elements/new", False),
    ],
)
def test_roles_decide_what_each_page_allows(
    client: TestClient, engine: Engine, role: str, path: str, allowed: bool
) -> None:
    login(client, make_user(engine, role))
    response = client.get(path)
    assert response.status_code == (200 if allowed else 403)
    if not allowed:
        assert "您的角色无权执行此操作" in response.text


def test_a_viewer_cannot_change_anything(client: TestClient, engine: Engine) -> None:
    login(client, make_user(engine, "viewer"))
    token = csrf(client, "/console/")
    for path in (
        "/console/elements/new",
        "/console/elements/person.name/edit",
        "/console/agreements/1/approve",
        "/console/disputes/1/resolve",
        "/console/handovers",
    ):
        assert client.post(path, data={"csrf_token": token}).status_code == 403, path
    page = client.get("/console/elements/person.name")
    assert "/edit" not in page.text and "登记数据元" not in client.get("/console/elements").text


def test_a_disabled_account_is_signed_out_at_once(client: TestClient, engine: Engine) -> None:
    name = make_user(engine)
    login(client, name)
    with unit_of_work(engine) as session:
        user = users.get_by_username(session=session, username=name)
        user.active = False  # type: ignore[union-attr]
    assert client.get("/console/", follow_redirects=False).status_code == 303
    assert login(client, name).status_code == 401


def test_passwords_are_argon2_hashes_and_policies_hold(engine: Engine) -> None:
    name = make_user(engine)
    with unit_of_work(engine) as session:
        user = users.get_by_username(session=session, username=name)
        assert (
            user is not None
            and user.password_hash.startswith("$argon2id$")
            and PASSWORD not in user.password_hash
        )
        with pytest.raises(InvalidRequest, match="at least"):
            users.create(
                session=session, username="shorty", password="short", role="viewer", settings=SETTINGS
            )
        with pytest.raises(InvalidRequest, match="role"):
            users.create(session=session, username="boss", password=PASSWORD, role="admin", settings=SETTINGS)


def test_production_refuses_demo_passwords_and_the_dev_secret(engine: Engine) -> None:
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        ConsoleSettings(environment="production")
    production = ConsoleSettings(environment="production", session_secret="s" * 40)
    name = make_user(engine, password="steward-demo-2026")
    with unit_of_work(engine) as session:
        assert users.ensure_demo_accounts(session=session, settings=production) == []
        with pytest.raises(InvalidRequest, match="demo"):
            users.create(
                session=session,
                username="x",
                password="steward-demo-2026",
                role="viewer",
                settings=production,
            )
        refused = users.authenticate(
            session=session, username=name, password="steward-demo-2026", settings=production
        )
        assert refused.user is None and refused.failure == "demo_password"
        allowed = users.authenticate(
            session=session, username=name, password="steward-demo-2026", settings=SETTINGS
        )
        assert allowed.user is not None
    assert "steward-demo-2026" not in users.demo_logins("http://x/console", production)


def test_every_console_page_needs_a_signed_in_user(client: TestClient) -> None:
    from fastapi.routing import APIRoute

    from console import app as console_app

    routers = [module.router for module in console_app.VIEWS]
    public = {"/login", "/logout", "/lang"}
    checked = 0
    for route in (r for router in routers for r in router.routes):
        if not isinstance(route, APIRoute) or route.path in public:
            continue
        path = "/console" + re.sub(r"\{[a-z_]+\}", "1", route.path)
        for method in route.methods - {"HEAD"}:
            token = csrf(client)  # a valid token: what stops the request must be the missing sign-in
            response = client.request(method, path, data={"csrf_token": token}, follow_redirects=False)
            assert response.status_code == 303 and "/console/login" in response.headers["location"], (
                method,
                path,
            )
            checked += 1
    assert checked >= 20


def test_every_sign_in_attempt_is_on_the_audit_chain(client: TestClient, engine: Engine) -> None:
    name = make_user(engine)
    assert login(client, name, password="wrong password").status_code == 401
    assert login(client, name).status_code == 303
    rows: list[tuple[str, str, str | None, str | None]] = []
    deadline = time.monotonic() + 5  # the audit write follows the commit on the event loop
    while time.monotonic() < deadline and len(rows) < 2:
        with engine.connect() as conn:
            rows = [
                tuple(r)
                for r in conn.exec_driver_sql(
                    "SELECT action, decision, reason, hash FROM audit_entry"
                    " WHERE actor_user = ? ORDER BY seq",
                    (name,),
                )
            ]
        time.sleep(0.05)
    assert [r[:3] for r in rows] == [
        ("console.login_invalid", "deny", "invalid"),
        ("console.login", "allow", None),
    ]
    assert all(r[3] for r in rows)  # chained
