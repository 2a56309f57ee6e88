"""Every gateway table, imported in one place for migrations."""

from exchange.audit.models import AuditEntry
from exchange.auth.models import UsedAssertion
from exchange.corrections.models import Correction
from exchange.events.models import Delivery, Event
from exchange.queries.async_models import AsyncResult
from exchange.queries.models import QueryRecord
from exchange.transparency.models import TransparencyRestriction

__all__ = [
    "AsyncResult",
    "AuditEntry",
    "Correction",
    "Delivery",
    "Event",
    "QueryRecord",
    "TransparencyRestriction",
    "UsedAssertion",
]
