"""The reporting period: whole UTC days, both ends included, clear errors for bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from analytics.period import MAX_DAYS, Period
from core.errors import ValidationFailed


def test_last_days_ends_today():
    period = Period.last(7, today=date(2026, 3, 4))
    assert (period.start, period.end, period.days) == (date(2026, 2, 26), date(2026, 3, 4), 7)


def test_timestamps_cover_whole_days_end_exclusive():
    period = Period(date(2026, 3, 2), date(2026, 3, 4))
    assert period.start_ts == datetime(2026, 3, 2, tzinfo=UTC)
    assert period.end_ts == datetime(2026, 3, 5, tzinfo=UTC)
    assert period.each_day() == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]


def test_parse_iso_dates():
    assert Period.parse("2026-03-02", "2026-03-02") == Period(date(2026, 3, 2), date(2026, 3, 2))


def test_parse_fills_missing_start_from_end():
    assert Period.parse(None, "2026-03-30", default_days=30).start == date(2026, 3, 1)


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2026-03-05", "2026-03-01", "ends .* before it starts"),
    ("03/01/2026", "2026-03-05", "`start` must be a date written YYYY-MM-DD"),
    ("2026-03-01", "2026-02-30", "`end` must be a date"),
    ("2020-01-01", "2026-01-01", f"at most {MAX_DAYS} days"),
])
def test_parse_refuses_bad_input(start, end, message):
    with pytest.raises(ValidationFailed, match=message):
        Period.parse(start, end)


def test_last_needs_a_day():
    with pytest.raises(ValidationFailed):
        Period.last(0)


def test_str_names_the_range():
    assert str(Period(date(2026, 3, 2), date(2026, 3, 4))) == "2026-03-02_2026-03-04"
