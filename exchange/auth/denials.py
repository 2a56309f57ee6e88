"""Every refused request is written to the audit log with its reason (DESIGN.md §2.4: fail closed, and
record the denial): authentication failures, scope and rate refusals, malformed and oversized bodies.

The problem handlers of web/problems.py stay the one place that shapes the response; this
wraps them to also audit. A service that already audited its own refusal raises its ShuyuanError with
`audited=True`, so the denial is not recorded twice.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from exchange.audit import records
from exchange.audit.events import AuditRecord
from exchange.state import GatewayState
from protocol.errors import ShuyuanError
from protocol.reasons import Reason
from registry.state import find_state

log = logging.getLogger(__name__)
ANONYMOUS = "anonymous"


def denial_record(app: Any, *, path: str, reason: str, principal: Any = None) -> AuditRecord:
    """The audit record of a refused request; never the request's content, only who, where and why."""
    state = find_state(app, GatewayState)
    settings = state.settings if state is not None else None
    return records.request_denied(
        gateway=settings.gateway_id if settings is not None else None,
        reason=reason,
        department=principal.department if principal is not None else ANONYMOUS,
        system=principal.client_id if principal is not None else None,
        token_endpoint=path == "/oauth/token",
    )


async def audit_denial(app: Any, *, path: str, reason: str, principal: Any = None) -> None:
    """Write one denial record; a failing audit store is logged, the request is refused anyway."""
    state = find_state(app, GatewayState)
    writer = state.audit_writer if state is not None else None
    if writer is None:
        return
    try:
        await writer.write([denial_record(app, path=path, reason=reason, principal=principal)])
    except Exception:  # the caller is refused either way; losing the record must not turn a 4xx into a 5xx
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
            audited = isinstance(exc, ShuyuanError) and exc.audited
            if 400 <= response.status_code < 500 and reason != Reason.NOT_FOUND and not audited:
                principal = getattr(request.state, "principal", None)
                await audit_denial(request.app, path=request.url.path, reason=reason, principal=principal)
            return response

        app.exception_handlers[exc_type] = _audited
