"""Decision deadlines in working days (工作日).

Working days are counted in China Standard Time (UTC+8, no daylight saving): Saturdays, Sundays and the
configured statutory holidays do not count. Weekend make-up working days (调休) are not modelled yet.
"""

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")


def is_working_day(day: date, holidays: Collection[date] = ()) -> bool:
    """Monday to Friday, and not a statutory holiday."""
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: datetime, days: int, holidays: Collection[date] = ()) -> datetime:
    """The end (23:59:59 CST) of the `days`-th working day after the day of `start`, in UTC."""
    day = start.astimezone(CST).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            counted += 1
    return datetime.combine(day, time(23, 59, 59), CST).astimezone(UTC)
