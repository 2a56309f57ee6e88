"""What every console page shares: database session, signed-in user and role checks, CSRF, rendering."""

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import Session, select
from starlette.applications import Starlette

from console.i18n import LANGUAGES, translator
from console.settings import ConsoleSettings
from console.times import at, when
from console.users.models import ROLES, ConsoleUser
from exchange.audit.events import AuditAction
from exchange.state import GatewayState
from registry import events
from registry.actors import Actor
from registry.db import unit_of_work
from registry.departments.models import Department
from registry.state import state_of

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["at"] = at
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class SignedIn:
    """Who is signed in, as the templates see it."""

    id: int
    username: str
    display_name: str
    role: str


class LoginRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""


class RoleDenied(Exception):
    """Signed in, but this page or action needs another role."""


class CsrfRefused(Exception):
    """An unsafe request without the session's synchronizer token."""


@dataclass(frozen=True, kw_only=True)
class ConsoleState:
    """The console app's state: its own settings, and the gateway app it is mounted in."""

    settings: ConsoleSettings
    host: Starlette

    @property
    def gateway(self) -> GatewayState:
        """The gateway's typed state (engine, registry changes, keys, audit), built by its lifespan."""
        return state_of(self.host, GatewayState)


def console_state(request: Request) -> ConsoleState:
    """The one way a console page reaches shared state (the gateway's through `.gateway`)."""
    return state_of(request.app, ConsoleState)


def settings_of(request: Request) -> ConsoleSettings:
    """The console's settings."""
    return console_state(request).settings


def db_session(request: Request) -> Iterator[Session]:
    """One unit of work per request; a committed POST tells the registry's listeners (caches)."""
    gateway = console_state(request).gateway
    with unit_of_work(gateway.engine) as session:
        recorded = events.pending(session)
        uid = request.session.get("uid")
        if uid is not None:  # a signed-in console user (a sign-in itself names its user in the event)
            events.act_as(session, department=None, system="console", user=f"console-user:{uid}")
        yield session
    # The same rule as the REST API's session (registry/deps.py): announce what this request recorded.
    if recorded or request.method not in _SAFE_METHODS:
        gateway.changes.changed(list(recorded))


# scope="function": committed before the response goes out, so a redirect shows the new state.
DbDep = Annotated[Session, Depends(db_session, scope="function")]


def csrf_token(request: Request) -> str:
    """The session's synchronizer token (created on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


async def csrf_protect(request: Request) -> None:
    """Refuse an unsafe request whose token (header or form field) is not the session's."""
    if request.method in _SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(str(expected), sent):
        raise CsrfRefused


def current_user(request: Request, session: DbDep) -> ConsoleUser:
    """The signed-in, active account (read again on every request: a disabled account stops at once)."""
    uid = request.session.get("uid")
    user = session.get(ConsoleUser, uid) if isinstance(uid, int) else None
    if user is None or not user.active:
        raise LoginRequired
    if request.session.get("sv") != user.session_version:
        # A cookie of a session ended at sign-out (copied, replayed): refused, and on the audit chain.
        request.session.clear()
        _audit_apart(request, type=AuditAction.CONSOLE_LOGIN_ENDED_SESSION.value, code=user.username)
        raise LoginRequired
    # A plain copy for the templates: error pages render after the session has rolled back and closed.
    assert user.id is not None, "an account read from the database has an id"
    request.state.user = SignedIn(user.id, user.username, user.display_name, user.role)
    return user


def _audit_apart(request: Request, *, type: str, code: str) -> None:
    """Record a console event in its own unit of work: the request's rolls back with its refusal."""
    gateway = console_state(request).gateway
    with unit_of_work(gateway.engine) as session:
        recorded = events.pending(session)
        events.record(session, type=type, entity="console_user", code=code[:64])
    gateway.changes.changed(list(recorded))


def require(*roles: str) -> Callable[..., ConsoleUser]:
    """A dependency that lets only these roles through."""

    def check(user: Annotated[ConsoleUser, Depends(current_user)]) -> ConsoleUser:
        if user.role not in roles:
            raise RoleDenied
        return user

    return check


Reader = Annotated[ConsoleUser, Depends(require(*ROLES))]
Steward = Annotated[ConsoleUser, Depends(require("steward"))]
Officer = Annotated[ConsoleUser, Depends(require("security_officer"))]


def language(request: Request) -> str:
    """The session's UI language (Chinese by default)."""
    lang = request.session.get("lang")
    return lang if lang in LANGUAGES else "zh"


def flash(request: Request, kind: str, key: str, **params: Any) -> None:
    """Queue a message for the next page shown (kind: ok | error | info)."""
    request.session.setdefault("flash", []).append([kind, key, {k: str(v) for k, v in params.items()}])


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render a page with the translator, user, CSRF token and pending flash messages."""
    lang = language(request)
    t = translator(lang)
    messages = [(kind, t(key, **params)) for kind, key, params in request.session.pop("flash", [])]
    base = {
        "t": t,
        "lang": lang,
        "user": getattr(request.state, "user", None),
        "csrf": csrf_token(request),
        "messages": messages,
        "root": request.scope.get("root_path", ""),
    }
    return TEMPLATES.TemplateResponse(request, template, base | (context or {}), status_code=status)


class Pager:
    """Page arithmetic and links for a table, keeping the other query parameters."""

    def __init__(self, request: Request, *, total: int, size: int) -> None:
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            page = 1
        self.total = total
        self.size = size
        self.pages = max(1, -(-total // size))
        self.page = min(max(1, page), self.pages)
        self.offset = (self.page - 1) * size
        self._params = {k: v for k, v in request.query_params.items() if k != "page"}
        self._path = request.url.path

    def url(self, page: int) -> str:
        """The link to another page of the same table."""
        return f"{self._path}?{urlencode(self._params | {'page': page})}"

    @property
    def first_row(self) -> int:
        """1-based number of the first row shown (0 if none)."""
        return self.offset + 1 if self.total else 0

    @property
    def last_row(self) -> int:
        """1-based number of the last row shown."""
        return min(self.offset + self.size, self.total)


def departments_by_code(session: Session) -> dict[str, Department]:
    """Every department by code, so tables can show names where the registry speaks in codes."""
    return {d.code: d for d in session.exec(select(Department))}


def actor_of(user: ConsoleUser) -> Actor:
    """The registry actor a console user acts as (stewards act as data stewards, 数据管理员)."""
    return Actor(name=f"console:{user.username}", steward=user.role == "steward")
