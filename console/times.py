"""Times as stewards read them: Beijing time (Asia/Shanghai), with the ISO instant on hover."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

# The registry counts decision deadlines in China Standard Time; Asia/Shanghai has had no DST since 1991.
BEIJING = ZoneInfo("Asia/Shanghai")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def when(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as plain text in Beijing time (for sentences; `at` for table cells and fields)."""
    if moment is None:
        return "—"
    return _aware(moment).astimezone(BEIJING).strftime(fmt)


def at(moment: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> Markup:
    """A <time> element in Beijing time whose title is the ISO instant in UTC."""
    if moment is None or moment == "":
        return Markup("—")
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return escape(moment)
    iso = _aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(iso, when(moment, fmt))
