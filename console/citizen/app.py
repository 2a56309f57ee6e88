"""The citizen page as a small FastAPI app of its own, mounted by the gateway at /citizen.

Like the console (console/app.py) it has HTML error pages and its own session middleware, but a
separate cookie, sign-in and templates: a citizen is never a console user, and a console session
means nothing here.
"""

from datetime import UTC, datetime
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException

from console.citizen.session import CitizenSessions
from console.citizen.settings import CitizenSettings
from console.citizen.signin import SignInRefused
from console.citizen.state import CitizenState
from console.citizen.views import router
from console.web import TEMPLATES, CsrfRefused, csrf_protect, render
from protocol.clock import as_utc
from protocol.errors import ShuyuanError
from registry.state import attach

STATIC = Path(__file__).resolve().parent.parent / "static"
MOUNT_PATH = "/citizen"
CALLBACK_PATH = MOUNT_PATH + "/callback"  # the redirect URI registered at the provider, under the base URL


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC, for the `datetime` attribute and the hover title of a time."""
    return as_utc(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


TEMPLATES.env.filters["iso"] = _iso  # the console's template environment; `when` is Beijing time


def create_citizen(settings: CitizenSettings, *, host: Starlette, redirect_uri: str) -> FastAPI:
    """Build the citizen app, to be mounted in `host` (the gateway app) at /citizen."""
    app = FastAPI(
        title="Shuyuan citizen page",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(csrf_protect)],  # sign-out and the language switch are forms
    )
    attach(app, CitizenState(settings=settings, host=host, redirect_uri=redirect_uri))
    app.add_middleware(CitizenSessions, settings=settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    _install_error_pages(app)
    return app


def _error(request: Request, title_key: str, *, detail_key: str | None = None, detail: str | None = None,
           status: int) -> HTMLResponse:  # fmt: skip
    context = {"title_key": title_key, "detail_key": detail_key, "detail": detail}
    return render(request, "citizen/error.html", context, status=status)


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRefused)
    async def _refused(request: Request, exc: SignInRefused) -> HTMLResponse:
        return _error(request, "citizen.refused", detail_key=exc.key, detail=exc.detail, status=401)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> HTMLResponse:
        return _error(request, "error.forbidden", detail_key="error.csrf", status=403)

    @app.exception_handler(ShuyuanError)
    async def _domain(request: Request, exc: ShuyuanError) -> HTMLResponse:
        # e.g. the provider's configuration unreachable (401), the audit path down (503).
        return _error(request, "citizen.unavailable", detail=exc.detail, status=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _exc: RequestValidationError) -> HTMLResponse:
        return _error(request, "error.400", detail_key="error.params", status=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        key = "error.404" if exc.status_code == 404 else "error.400"
        return _error(request, key, status=exc.status_code)
