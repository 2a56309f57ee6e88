"""Every gateway table, imported in one place for migrations."""

from exchange.audit.models import AuditEntry
from exchange.queries.models import QueryRecord

__all__ = ["AuditEntry", "QueryRecord"]
