"""The one clock of the system: aware UTC time (tests pass their own `now` where time matters)."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)
