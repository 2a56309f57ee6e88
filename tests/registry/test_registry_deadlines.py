"""The shared working-day calendar: weekends, statutory holidays and make-up working days (调休)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from registry.agreements.deadlines import CST, WorkingCalendar, add_working_days
from registry.settings import RegistrySettings

# 2026 National Day as the operator would configure it from the State Council notice: October 1-7
# off, Sunday September 27 and Saturday October 10 worked.
NATIONAL_DAY = WorkingCalendar(
    holidays=frozenset(date(2026, 10, d) for d in range(1, 8)),
    makeup_workdays=frozenset({date(2026, 9, 27), date(2026, 10, 10)}),
)


def beijing(*args: int) -> datetime:
    """A time on the wall clock in Beijing."""
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


def test_a_make_up_sunday_counts_and_the_golden_week_does_not() -> None:
    assert NATIONAL_DAY.is_working_day(date(2026, 9, 27))  # Sunday, worked (调休)
    assert NATIONAL_DAY.is_working_day(date(2026, 10, 10))  # Saturday, worked
    assert not NATIONAL_DAY.is_working_day(date(2026, 10, 5))  # Monday in the holiday
    assert not NATIONAL_DAY.is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    # Friday 25 Sep + 1 working day is Sunday 27 Sep, not Monday 28 Sep.
    assert NATIONAL_DAY.add_working_days(beijing(2026, 9, 25, 10), 1).date() == date(2026, 9, 27)


def test_five_working_days_from_before_the_holiday_run_past_it() -> None:
    # Tue 29 Sep: Wed 30 (1), holiday Oct 1-7, Thu 8 (2), Fri 9 (3), Sat 10 make-up (4), Mon 12 (5).
    due = NATIONAL_DAY.add_working_days(beijing(2026, 9, 29, 16), 5)
    assert due == beijing(2026, 10, 12, 23, 59, 59).astimezone(UTC)
    without_makeup = add_working_days(beijing(2026, 9, 29, 16), 5, NATIONAL_DAY.holidays)
    assert without_makeup.date() == date(2026, 10, 13)
    # Fifteen working days from the same day (the default close deadline of a correction).
    assert NATIONAL_DAY.add_working_days(beijing(2026, 9, 29, 16), 15).date() == date(2026, 10, 26)


def test_the_day_is_counted_in_beijing_time() -> None:
    late_friday_utc = datetime(2026, 9, 25, 17, 0, tzinfo=UTC)  # already Saturday 26 Sep in Beijing
    assert NATIONAL_DAY.add_working_days(late_friday_utc, 1).date() == date(2026, 9, 27)
    assert NATIONAL_DAY.add_working_days(late_friday_utc, 1) - late_friday_utc < timedelta(days=2)


def test_settings_read_both_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUYUAN_REGISTRY_HOLIDAYS", '["2026-10-01", "2026-10-02"]')
    monkeypatch.setenv("SHUYUAN_REGISTRY_MAKEUP_WORKDAYS", '["2026-09-27"]')
    calendar = RegistrySettings().calendar()
    assert calendar.holidays == {date(2026, 10, 1), date(2026, 10, 2)}
    assert calendar.makeup_workdays == {date(2026, 9, 27)}
    assert RegistrySettings(holidays=[], makeup_workdays=[]).calendar() == WorkingCalendar()
