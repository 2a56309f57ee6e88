"""Every refused request is written to the audit log with its reason (DESIGN.md §2.4: fail closed, and
record the denial): authentication failures, scope and rate refusals, malformed and oversized bodies.

The problem handlers of web/problems.py stay the one place that shapes the response; this
wraps them to also audit. A service that already audited its own refusal sets `audited = True` on
the exception so the denial is not recorded twice.
"""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from protocol.errors import ShuyuanError
from protocol.reasons import Reason

log = logging.getLogger(__name__)
ANONYMOUS = "anonymous"


def denial_row(app: Any, *, path: str, reason: str, principal: Any = None) -> dict[str, Any]:
    """An audit row for a refused request; never the request's content, only who, where and why."""
    settings = getattr(app.state, "settings", None)
    action = "token.denied" if path == "/oauth/token" else "request.denied"
    return {
        "gateway": settings.gateway_id if settings is not None else None,
        "actor": principal.department if principal is not None else ANONYMOUS,
        "actor_system": principal.client_id if principal is not None else None,
        "action": action,
        "subject_index": None,
        "service_item": None,
        "case_no": None,
        "query_id": None,
        "elements": json.dumps([]),
        "decision": "deny",
        "reason": reason,
        "source": None,
        "response_digest": None,
    }


async def audit_denial(app: Any, *, path: str, reason: str, principal: Any = None) -> None:
    """Write one denial row; a failing audit store is logged, the request is refused anyway."""
    writer = getattr(app.state, "audit_writer", None)
    if writer is None:
        return
    try:
        await writer.write([denial_row(app, path=path, reason=reason, principal=principal)])
    except Exception:  # the caller is refused either way; losing the row must not turn a 4xx into a 5xx
        log.exception("could not audit a denial (%s on %s)", reason, path)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ShuyuanError):
        return exc.reason.value
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 404:
        return Reason.NOT_FOUND.value
    return Reason.INVALID_REQUEST.value


def install_denial_audit(app: FastAPI) -> None:
    """Wrap the app's problem handlers so every 4xx refusal (except plain not-found) is audited."""
    for exc_type in (ShuyuanError, RequestValidationError, StarletteHTTPException):
        original = app.exception_handlers[exc_type]

        async def _audited(request: Request, exc: Exception, _original: Any = original) -> Response:
            response: Response = await _original(request, exc)
            reason = _reason(exc)
            if (
                400 <= response.status_code < 500
                and reason != Reason.NOT_FOUND
                and not getattr(exc, "audited", False)
            ):
                principal = getattr(request.state, "principal", None)
                await audit_denial(request.app, path=request.url.path, reason=reason, principal=principal)
            return response

        app.exception_handlers[exc_type] = _audited
