"""Sign-in, sign-out and the language switch."""

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from console.i18n import LANGUAGES
from console.users import service as users
from console.web import DbDep, flash, render, settings_of
from registry import events

router = APIRouter()


def _safe_next(request: Request, target: str | None) -> str:
    """Only a path inside the console: anything else could make the sign-in page an open redirect."""
    root = request.scope.get("root_path", "")
    if target and target.startswith(f"{root}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{root}/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, expired: str | None = None) -> HTMLResponse:
    """The sign-in form."""
    context = {"next": _safe_next(request, next), "expired": bool(expired), "username": "", "error": None}
    return render(request, "login.html", context)


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login(
    request: Request,
    session: DbDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    """Check the credentials; on success start a fresh session (no fixation), else say why not."""
    result = users.authenticate(
        session=session, username=username.strip(), password=password, settings=settings_of(request)
    )
    # Every sign-in attempt goes on the audit chain (issue 5), announced when this request commits.
    outcome = "console.login" if result.user is not None else f"console.login_{result.failure}"
    events.record(session, type=outcome[:32], entity="console_user", code=username.strip()[:64])
    if result.user is None:
        # An unknown name, a wrong password and a locked account get the same page and status, so
        # the sign-in form does not tell which usernames exist (the audit record tells them apart).
        failure = "demo_password" if result.failure == "demo_password" else "invalid"
        context = {
            "next": _safe_next(request, next),
            "expired": False,
            "username": username.strip()[:64],
            "error": f"login.{failure}",
        }
        return render(request, "login.html", context, status=401)
    lang = request.session.get("lang")
    request.session.clear()
    now = time.time()
    request.session.update(
        {
            "uid": result.user.id,
            "sv": result.user.session_version,  # refused once sign-out bumps it (console/web.py)
            "iat": now,
            "seen": now,
            "csrf": secrets.token_urlsafe(32),
        }
    )
    if lang:
        request.session["lang"] = lang
    flash(request, "ok", "login.welcome", name=result.user.display_name or result.user.username)
    return RedirectResponse(_safe_next(request, next), status_code=303)


@router.post("/logout")
def logout(request: Request, session: DbDep) -> RedirectResponse:
    """End the session, here and on the server: a copy of the cookie is refused from now on."""
    uid = request.session.get("uid")
    if isinstance(uid, int):
        users.end_sessions(session=session, user_id=uid)
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    flash(request, "info", "login.bye")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)


@router.post("/lang")
def switch_language(
    request: Request,
    lang: Annotated[str, Form(max_length=8)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    """Switch the UI language and go back to the page the switch was pressed on."""
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return RedirectResponse(_safe_next(request, next), status_code=303)
