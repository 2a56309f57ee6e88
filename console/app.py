"""The console as a small FastAPI app of its own, mounted by the gateway at /console.

Its own app so that it has its own error pages (HTML, not problem+json), its own session middleware
(scoped to /console) and no OpenAPI schema; it reaches the gateway's typed state (engine, registry
changes, keys, audit writer) through `host`, the gateway app whose lifespan builds it.
"""

from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException

from console.i18n import MESSAGES
from console.session import ConsoleSessions
from console.settings import ConsoleSettings
from console.views import (
    accounts,
    agreements,
    aliases,
    audit,
    auth,
    catalogue,
    corrections,
    dashboard,
    departments,
    disputes,
    elements,
    events,
    restrictions,
    service_item_forms,
    service_items,
    systems,
)
from console.web import ConsoleState, CsrfRefused, LoginRequired, RoleDenied, csrf_protect, render
from protocol.errors import ShuyuanError
from registry.state import attach

VIEWS = (
    auth,
    dashboard,
    elements,
    aliases,
    departments,
    systems,
    service_item_forms,
    service_items,
    catalogue,
    restrictions,
    agreements,
    disputes,
    corrections,
    events,
    accounts,
    audit,
)

STATIC = Path(__file__).parent / "static"


def create_console(settings: ConsoleSettings, *, host: Starlette) -> FastAPI:
    """Build the console app, to be mounted in `host`: the gateway app, whose lifespan builds its state."""
    console = FastAPI(
        title="Shuyuan console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Every unsafe request of every page is checked here, so a new form is protected by default.
        dependencies=[Depends(csrf_protect)],
    )
    attach(console, ConsoleState(settings=settings, host=host))
    console.add_middleware(ConsoleSessions, settings=settings)
    console.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in VIEWS:
        console.include_router(module.router)
    _install_error_pages(console)
    return console


def _install_error_pages(console: FastAPI) -> None:
    @console.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        root = request.scope.get("root_path", "")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"{root}/login?next={quote(target)}"
        if request.scope.get("session_expired"):
            login += "&expired=1"
        if request.headers.get("hx-request"):
            # htmx follows HX-Redirect with a full page load instead of swapping a login form in.
            return Response(status_code=204, headers={"HX-Redirect": login})
        return RedirectResponse(login, status_code=303)

    @console.exception_handler(RoleDenied)
    async def _role(request: Request, _exc: RoleDenied) -> HTMLResponse:
        return render(
            request, "error.html", {"title_key": "error.forbidden", "detail_key": "error.role"}, status=403
        )

    @console.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> HTMLResponse:
        return render(
            request, "error.html", {"title_key": "error.forbidden", "detail_key": "error.csrf"}, status=403
        )

    @console.exception_handler(ShuyuanError)
    async def _domain(request: Request, exc: ShuyuanError) -> HTMLResponse:
        key = f"error.{exc.status}" if f"error.{exc.status}" in MESSAGES else "error.generic"
        context = {"title_key": key, "detail": exc.detail}
        return render(request, "error.html", context, status=exc.status)

    @console.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _exc: RequestValidationError) -> HTMLResponse:
        return render(
            request, "error.html", {"title_key": "error.400", "detail_key": "error.params"}, status=400
        )

    @console.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        key = "error.404" if exc.status_code == 404 else "error.400"
        return render(request, "error.html", {"title_key": key}, status=exc.status_code)
