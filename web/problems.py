"""The one place where errors become RFC 9457 problem+json responses with our reason codes."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from protocol.errors import ShuyuanError
from protocol.reasons import REASON_TITLES, Reason

PROBLEM_JSON = "application/problem+json"


def problem(status: int, reason: Reason, detail: str, instance: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {
        "type": f"https://shuyuan.example/problems/{reason.value}",
        "title": REASON_TITLES.get(reason, reason.value),
        "status": status,
        "detail": detail,
        "instance": instance,
        "reason": reason.value,
        **extra,
    }
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echoing the offending input could reflect personal data back into logs; report where and why only.
    return [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error type to problem+json once, for the whole app."""

    @app.exception_handler(ShuyuanError)
    async def _domain(request: Request, exc: ShuyuanError) -> JSONResponse:
        return problem(exc.status, exc.reason, exc.detail, request.url.path, **exc.extra)

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # The database is away (stopped, restarting, failing over) or its pool is exhausted: a
        # transient condition, not a bug, so a 503 the client may retry, never a 500. Nothing was
        # released: every answer is released only after its records committed (DESIGN.md §2.6).
        return problem(
            503,
            Reason.DATABASE_UNAVAILABLE,
            f"the exchange's database does not answer ({type(exc).__name__}); retry shortly",
            request.url.path,
            retry_after=1,
        )

    for database_error in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(database_error, _database)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(
            422,
            Reason.INVALID_REQUEST,
            "The request does not match the schema",
            request.url.path,
            errors=_field_errors(exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = Reason.NOT_FOUND if exc.status_code == 404 else Reason.INVALID_REQUEST
        return problem(exc.status_code, reason, str(exc.detail), request.url.path)
