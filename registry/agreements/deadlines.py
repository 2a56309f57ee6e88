"""Deadlines in working days (工作日), shared by agreement decisions and corrections.

Working days are counted in China Standard Time (UTC+8, no daylight saving): Monday to Friday, minus
the configured statutory holidays, plus the configured make-up working days (调休: weekend dates that
are working days). Both lists are set by the operator each year from the State Council's notice on
the holiday arrangements (国务院办公厅关于部分节假日安排的通知), e.g. 2026 National Day: October 1-7
off, Sunday September 27 and Saturday October 10 worked (SHUYUAN_REGISTRY_HOLIDAYS and
SHUYUAN_REGISTRY_MAKEUP_WORKDAYS).
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")


def is_working_day(
    day: date, holidays: Collection[date] = (), makeup_workdays: Collection[date] = ()
) -> bool:
    """A make-up working day, or Monday to Friday and not a statutory holiday."""
    if day in makeup_workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(
    start: datetime, days: int, holidays: Collection[date] = (), makeup_workdays: Collection[date] = ()
) -> datetime:
    """The end (23:59:59 CST) of the `days`-th working day after the day of `start`, in UTC."""
    day = start.astimezone(CST).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, holidays, makeup_workdays):
            counted += 1
    return datetime.combine(day, time(23, 59, 59), CST).astimezone(UTC)


@dataclass(frozen=True)
class WorkingCalendar:
    """The operator's holiday and make-up working-day lists, as one value to pass around."""

    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        """Whether `day` is a working day under this calendar."""
        return is_working_day(day, self.holidays, self.makeup_workdays)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end (23:59:59 CST) of the `days`-th working day after the day of `start`, in UTC."""
        return add_working_days(start, days, self.holidays, self.makeup_workdays)
