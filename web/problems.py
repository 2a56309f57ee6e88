"""The one place where errors become RFC 9457 problem+json responses with our reason codes."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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
