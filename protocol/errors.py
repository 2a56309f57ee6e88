"""The root of every error reported to a caller, with its reason code and HTTP status."""

from typing import Any

from protocol.reasons import Reason


class ShuyuanError(Exception):
    """Base for every error the system reports to a caller."""

    status: int = 400
    reason: Reason = Reason.INVALID_REQUEST

    def __init__(
        self, detail: str, *, reason: Reason | None = None, audited: bool = False, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason
        # True when the service already wrote this refusal to the audit chain (not again: auth/denials.py).
        self.audited = audited
        self.extra = extra


class InvalidRequest(ShuyuanError):
    """The request is malformed or names something that cannot exist."""


class NotFound(ShuyuanError):
    """The named resource does not exist."""

    status = 404
    reason = Reason.NOT_FOUND


class Conflict(ShuyuanError):
    """The request collides with the current state (duplicate key, reused idempotency key)."""

    status = 409
    reason = Reason.CONFLICT


class Unauthenticated(ShuyuanError):
    """The caller did not prove who it is."""

    status = 401
    reason = Reason.UNAUTHENTICATED


class Denied(ShuyuanError):
    """The request is well-formed but not allowed."""

    status = 403


class Gone(ShuyuanError):
    """The resource existed but is no longer released (an async result fetched or expired)."""

    status = 410
    reason = Reason.RESULT_EXPIRED


class Unavailable(ShuyuanError):
    """A component the request needs is down; nothing was released."""

    status = 503
    reason = Reason.SOURCE_UNAVAILABLE
