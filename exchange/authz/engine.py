"""The authorisation engine: the checks of DESIGN.md §6, in order, first failure wins.

No FastAPI here: policy is tested on its own and reused by any front end.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from protocol.reasons import Reason
from registry.catalogue import Catalogue, ElementView
from registry.elements.models import INACTIVE_STATUSES


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
    """Decide one element of a query for this consumer and purpose."""
    element = catalogue.elements.get(element_code)
    if element is None:
        return deny(element_code, reason=Reason.UNKNOWN_ELEMENT)
    if element.status in INACTIVE_STATUSES:
        return deny(element_code, reason=Reason.RETIRED_ELEMENT, source=element.source)
    needed = catalogue.item_elements.get(service_item)
    if needed is None:
        return deny(element_code, reason=Reason.UNKNOWN_PURPOSE, source=element.source)
    if element_code not in needed:
        return deny(element_code, reason=Reason.NOT_NECESSARY_FOR_PURPOSE, source=element.source)
    if element.subject_type != subject_type:
        # An enterprise element cannot describe a person: the request itself is wrong.
        return deny(element_code, reason=Reason.INVALID_REQUEST, source=element.source)
    if element.sharing_type == "not_shared":
        return deny(element_code, reason=Reason.NOT_SHARED, source=element.source)
    if element.sharing_type == "conditional":
        return _agreement_decision(catalogue, element, consumer, service_item, now or datetime.now(UTC))
    return allow(element)


def _agreement_decision(
    catalogue: Catalogue, element: ElementView, consumer: str, service_item: str, now: datetime
) -> Decision:
    agreements = catalogue.agreements.get((consumer, element.code, service_item), ())
    approved = [a for a in agreements if a.status == "approved"]
    if any(_aware(a.valid_from) <= now < _aware(a.valid_until) for a in approved):
        return allow(element)
    lapsed = any(_aware(a.valid_until) <= now for a in approved)
    if lapsed or any(a.status == "expired" for a in agreements):
        return deny(element.code, reason=Reason.AGREEMENT_EXPIRED, source=element.source)
    return deny(element.code, reason=Reason.NO_AGREEMENT, source=element.source)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
