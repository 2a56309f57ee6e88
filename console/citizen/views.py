"""The citizen page's routes: the accesses list, sign-in and its callback, sign-out, the language."""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.citizen import signin
from console.citizen.state import CitizenState, citizen_state
from console.i18n import LANGUAGES
from console.web import render
from exchange.consent import flow as consent
from exchange.consent.models import CONSENT_ID_PATTERN
from exchange.transparency.viewing import view_accesses
from protocol.errors import ShuyuanError

router = APIRouter()


def _home(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/"


def _fresh_session(request: Request, subject: dict[str, str], now: float) -> None:
    """A new session for the signed-in subject (no fixation: nothing of the old one but the language)."""
    lang = request.session.get("lang")
    request.session.clear()
    request.session.update({"subject": subject, "iat": now, "seen": now})
    if lang:
        request.session["lang"] = lang


@router.get("/", response_class=HTMLResponse)
async def accesses_page(
    request: Request,
    before: Annotated[
        int | None, Query(ge=1, description="cursor: the `next_before` of the last page")
    ] = None,
) -> HTMLResponse:
    """Who read which of my data, when and why (newest first); the sign-in button when signed out."""
    state: CitizenState = citizen_state(request)
    subject = request.session.get("subject")
    context: dict[str, Any] = {
        "enabled": state.gateway.transparency.settings.enabled,
        "subject": subject,
        "bye": bool(request.session.pop("bye", False)),
    }
    if not isinstance(subject, dict):
        context["expired"] = bool(request.scope.get("session_expired"))
        return render(request, "citizen/signed_out.html", context)
    accesses, next_before = await view_accesses(
        state.gateway, subject_index=subject["index"], limit=state.settings.page_size, before=before
    )
    requests = await consent.of_subject(state.gateway, subject["index"])
    context |= {
        "accesses": accesses,
        "next_before": next_before,
        "before": before,
        "consent": [r for r in requests if r.state == "pending"],
        "consent_answered": [r for r in requests if r.state != "pending"][:10],
        "consent_done": request.session.pop("consent_done", None),
    }
    return render(request, "citizen/accesses.html", context)


@router.post("/consents/{consent_id}")
async def answer_consent(
    request: Request,
    consent_id: Annotated[str, Path(pattern=CONSENT_ID_PATTERN)],
    decision: Annotated[str, Form(pattern="^(approve|refuse)$")],
) -> Response:
    """Approve or refuse a request about me (the same steps and checks as the API's)."""
    state: CitizenState = citizen_state(request)
    subject = request.session.get("subject")
    if not isinstance(subject, dict):
        return RedirectResponse(_home(request), status_code=303)
    try:
        done = await consent.answer_as(
            state.gateway,
            subject_index=subject["index"],
            consent_id=consent_id,
            approve=decision == "approve",
        )
    except ShuyuanError as exc:  # audited by answer_as; the page says which rule refused it
        request.session["consent_done"] = {"reason": exc.reason.value}
    else:
        request.session["consent_done"] = {"state": done.state}
    return RedirectResponse(_home(request), status_code=303)


@router.get("/login")
async def login(request: Request) -> RedirectResponse:
    """Start the sign-in at the identity provider."""
    state = citizen_state(request)
    url = await signin.start(
        request, settings=state.settings, gateway=state.gateway, redirect_uri=state.redirect_uri
    )
    return RedirectResponse(url, status_code=303)


@router.get("/callback", name="citizen_callback")
async def callback(request: Request) -> RedirectResponse:
    """The provider's redirect back: a session for the subject, or an error page (signin.SignInRefused)."""
    state = citizen_state(request)
    citizen = await signin.finish(
        request, settings=state.settings, gateway=state.gateway, redirect_uri=state.redirect_uri
    )
    index = state.gateway.platform_keys.blind_index(citizen.subject_type, citizen.subject_id)
    subject = {
        "type": citizen.subject_type,
        "index": index,
        "masked": signin.masked(citizen.subject_id),
    }
    _fresh_session(request, subject, time.time())
    return RedirectResponse(_home(request), status_code=303)


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """End the session (the cookie is emptied; it held the session, nothing is kept server-side)."""
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    request.session["bye"] = True
    return RedirectResponse(_home(request), status_code=303)


@router.post("/lang")
def switch_language(request: Request, lang: Annotated[str, Form(max_length=8)]) -> Response:
    """Switch the page's language and show the page again."""
    if lang in LANGUAGES:
        request.session["lang"] = lang
    return RedirectResponse(_home(request), status_code=303)
