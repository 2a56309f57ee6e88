"""Registry-specific errors: subclasses of the shared roots, each with its reason code (docs/registry.md)."""

from protocol.errors import Conflict, Denied, InvalidRequest
from protocol.reasons import Reason


class Forbidden(Denied):
    """The actor is not the department or steward this step needs."""

    reason = Reason.FORBIDDEN


class InvalidTransition(Conflict):
    """A registration status move outside the allowed transitions."""

    reason = Reason.INVALID_TRANSITION


class InvalidState(Conflict):
    """A workflow step on a resource that is already past it (e.g. deciding a decided agreement)."""

    reason = Reason.INVALID_STATE


class ConfirmationRequired(Conflict):
    """Superseding or retiring needs the impact list's confirmation token."""

    reason = Reason.CONFIRMATION_REQUIRED


class StaleConfirmation(Conflict):
    """The confirmation token no longer matches the impact list."""

    reason = Reason.STALE_CONFIRMATION


class AgreementNotNeeded(InvalidRequest):
    """An agreement was requested for an unconditional element."""

    reason = Reason.AGREEMENT_NOT_NEEDED


class InvalidValueSchema(InvalidRequest):
    """The element's value schema fails the JSON Schema meta-schema."""

    reason = Reason.INVALID_VALUE_SCHEMA


class ImportFailed(InvalidRequest):
    """A bulk import had errors; `errors` lists them row by row and nothing was written."""

    status = 422
    reason = Reason.IMPORT_FAILED
