"""The reporting period: a range of whole UTC days, both ends included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from core.errors import ValidationFailed

# A report over more than this many days is almost certainly a typo in a year.
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    """Days `start`..`end` inclusive; timestamps compare against `[start_ts, end_ts)`."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationFailed(f"The period ends ({self.end}) before it starts ({self.start}).")
        if self.days > MAX_DAYS:
            raise ValidationFailed(f"The period is {self.days} days long; choose at most {MAX_DAYS} days.")

    @classmethod
    def last(cls, days: int, today: date | None = None) -> Period:
        """The `days` days ending with `today` (UTC today when omitted)."""
        if days < 1:
            raise ValidationFailed("A period covers at least one day.")
        today = today or datetime.now(UTC).date()
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def parse(cls, start: str | None, end: str | None, *, default_days: int = 30) -> Period:
        """A period from two ISO dates (YYYY-MM-DD); a missing end is today, a missing start `default_days` back."""
        end_day = _parse_day("end", end) if end else datetime.now(UTC).date()
        start_day = _parse_day("start", start) if start else end_day - timedelta(days=default_days - 1)
        return cls(start_day, end_day)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_ts(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_ts(self) -> datetime:
        """Midnight after the last day (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def __str__(self) -> str:
        return f"{self.start.isoformat()}_{self.end.isoformat()}"


def _parse_day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ValidationFailed(f"`{name}` must be a date written YYYY-MM-DD, got {value!r}.") from None
