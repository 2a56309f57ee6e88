"""Times in the console: Beijing time shown, the ISO instant in UTC on hover."""

from datetime import UTC, datetime, timedelta, timezone

from console.times import at, when


def test_a_utc_instant_is_shown_in_beijing_time_with_the_iso_instant_as_title() -> None:
    moment = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)  # already 1 January in Beijing
    html = str(at(moment))
    assert ">2027-01-01 01:30</time>" in html
    assert 'title="2026-12-31T17:30:00Z"' in html and 'datetime="2026-12-31T17:30:00Z"' in html


def test_other_offsets_naive_values_strings_and_none() -> None:
    tokyo = datetime(2026, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    assert when(tokyo) == "2026-05-01 08:00"
    assert when(datetime(2026, 5, 1, 0, 0)) == "2026-05-01 08:00"  # the database's naive UTC
    assert ">2026-05-01 08:00:00</time>" in str(at("2026-05-01T00:00:00.000000Z", "%Y-%m-%d %H:%M:%S"))
    assert str(at(None)) == "—" and when(None) == "—"
    assert str(at("<not a time>")) == "&lt;not a time&gt;"
