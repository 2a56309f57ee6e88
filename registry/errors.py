"""Registry-specific errors: subclasses of the shared roots, each with its own reason code."""

from enum import StrEnum

from protocol.errors import Conflict, Denied, InvalidRequest


class RegistryReason(StrEnum):
    """Reason codes of the registry API, in addition to protocol.reasons.Reason (docs/registry.md)."""

    FORBIDDEN = "forbidden"
    INVALID_TRANSITION = "invalid_transition"
    INVALID_STATE = "invalid_state"
    CONFIRMATION_REQUIRED = "confirmation_required"
    STALE_CONFIRMATION = "stale_confirmation"
    AGREEMENT_NOT_NEEDED = "agreement_not_needed"
    INVALID_VALUE_SCHEMA = "invalid_value_schema"
    IMPORT_FAILED = "import_failed"


REGISTRY_REASON_TITLES: dict[str, str] = {
    RegistryReason.FORBIDDEN: "The acting user or department may not do this",
    RegistryReason.INVALID_TRANSITION: "The registration status cannot move this way",
    RegistryReason.INVALID_STATE: "The resource is not in a state that allows this",
    RegistryReason.CONFIRMATION_REQUIRED: "Confirm the impact list before superseding or retiring",
    RegistryReason.STALE_CONFIRMATION: "The impact list changed since it was confirmed",
    RegistryReason.AGREEMENT_NOT_NEEDED: "Unconditional elements need no sharing agreement",
    RegistryReason.INVALID_VALUE_SCHEMA: "The value schema is not a valid JSON Schema",
    RegistryReason.IMPORT_FAILED: "The import was refused; nothing was imported",
}


class Forbidden(Denied):
    """The actor is not the department or steward this step needs."""

    reason = RegistryReason.FORBIDDEN  # type: ignore[assignment]


class InvalidTransition(Conflict):
    """A registration status move outside the allowed transitions."""

    reason = RegistryReason.INVALID_TRANSITION  # type: ignore[assignment]


class InvalidState(Conflict):
    """A workflow step on a resource that is already past it (e.g. deciding a decided agreement)."""

    reason = RegistryReason.INVALID_STATE  # type: ignore[assignment]


class ConfirmationRequired(Conflict):
    """Superseding or retiring needs the impact list's confirmation token."""

    reason = RegistryReason.CONFIRMATION_REQUIRED  # type: ignore[assignment]


class StaleConfirmation(Conflict):
    """The confirmation token no longer matches the impact list."""

    reason = RegistryReason.STALE_CONFIRMATION  # type: ignore[assignment]


class AgreementNotNeeded(InvalidRequest):
    """An agreement was requested for an unconditional element."""

    reason = RegistryReason.AGREEMENT_NOT_NEEDED  # type: ignore[assignment]


class InvalidValueSchema(InvalidRequest):
    """The element's value schema fails the JSON Schema meta-schema."""

    reason = RegistryReason.INVALID_VALUE_SCHEMA  # type: ignore[assignment]


class ImportFailed(InvalidRequest):
    """A bulk import had errors; `errors` lists them row by row and nothing was written."""

    status = 422
    reason = RegistryReason.IMPORT_FAILED  # type: ignore[assignment]
