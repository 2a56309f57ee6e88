"""The authorisation engine: shapes the release rule's answer into per-element Decisions.

The checks of DESIGN.md §6 live in registry/policy.py (shared with the agreement check and the
coverage report); no FastAPI here, so any front end reuses it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from protocol.reasons import Reason
from registry import policy
from registry.catalogue import Catalogue, ElementView


@dataclass(frozen=True, slots=True)
class Decision:
    """Allow, or deny with the reason of the first failed check."""

    element: str
    allowed: bool
    reason: Reason | None = None
    source: str | None = None

    @property
    def label(self) -> str:
        """`allow` or `deny`, as written to the audit log."""
        return "allow" if self.allowed else "deny"


def allow(element: ElementView) -> Decision:
    """An allowed element, routed to its source."""
    return Decision(element.code, True, None, element.source)


def deny(element_code: str, *, reason: Reason, source: str | None = None) -> Decision:
    """A denied element with its reason code."""
    return Decision(element_code, False, reason, source)


def client_reason(catalogue: Catalogue, consumer: str) -> Reason | None:
    """The request-level check: the calling department must exist and be active."""
    status = catalogue.departments.get(consumer)
    if status is None:
        return Reason.UNAUTHENTICATED
    if status != "active":
        return Reason.CLIENT_DISABLED
    return None


def decide(
    catalogue: Catalogue,
    *,
    consumer: str,
    element_code: str,
    service_item: str,
    subject_type: str,
    now: datetime | None = None,
) -> Decision:
    """Decide one element of a query for this consumer and purpose (the rule is registry/policy.py)."""
    reason = policy.release_reason(
        catalogue,
        consumer=consumer,
        element_code=element_code,
        service_item=service_item,
        subject_type=subject_type,
        now=now or datetime.now(UTC),
    )
    element = catalogue.elements.get(element_code)
    if element is None:  # the policy's first check: no element, no source to name
        return deny(element_code, reason=reason or Reason.UNKNOWN_ELEMENT)
    if reason is None:
        return allow(element)
    return deny(element_code, reason=reason, source=element.source)
