"""The reporting period: a range of whole days of the tenant's time zone, both ends included.

A day is the tenant's calendar day (Settings → Time zone): a conversation at 01:00 in Shanghai on
the 8th counts on the 8th, so `start_ts`/`end_ts` are local midnights and the daily rollups are
keyed by local days too (analytics.rollups). `zone` defaults to UTC for callers that have no tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.errors import ValidationFailed

# A report over more than this many days is almost certainly a typo in a year.
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    """Days `start`..`end` inclusive; timestamps compare against `[start_ts, end_ts)`."""

    start: date
    end: date
    zone: str = "UTC"  # IANA name of the tenant's time zone; the days are its calendar days

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationFailed(f"The period ends ({self.end}) before it starts ({self.start}).")
        if self.days > MAX_DAYS:
            raise ValidationFailed(f"The period is {self.days} days long; choose at most {MAX_DAYS} days.")

    @classmethod
    def last(cls, days: int, today: date | None = None, zone: str = "UTC") -> Period:
        """The `days` days ending with `today` (today in `zone` when omitted)."""
        if days < 1:
            raise ValidationFailed("A period covers at least one day.")
        today = today or local_today(zone)
        return cls(today - timedelta(days=days - 1), today, zone)

    @classmethod
    def parse(cls, start: str | None, end: str | None, *, default_days: int = 30, zone: str = "UTC") -> Period:
        """A period from two ISO dates (YYYY-MM-DD); a missing end is today, a missing start `default_days` back."""
        end_day = _parse_day("end", end) if end else local_today(zone)
        start_day = _parse_day("start", start) if start else end_day - timedelta(days=default_days - 1)
        return cls(start_day, end_day, zone)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_ts(self) -> datetime:
        """Local midnight starting the first day."""
        return local_midnight(self.start, self.zone)

    @property
    def end_ts(self) -> datetime:
        """Local midnight after the last day (exclusive bound)."""
        return local_midnight(self.end + timedelta(days=1), self.zone)

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def __str__(self) -> str:
        return f"{self.start.isoformat()}_{self.end.isoformat()}"


def tenant_period(tenant_id: object, start: str | None, end: str | None) -> Period:
    """`Period.parse` in the tenant's time zone (for the API and CLI, which know only the tenant)."""
    import uuid

    from core.db import tenant_session_sync
    from core.tenancy import tenant_timezone

    tenant = uuid.UUID(str(tenant_id))
    with tenant_session_sync(tenant) as session:
        zone = tenant_timezone(session, tenant)
    return Period.parse(start, end, zone=zone)


def local_today(zone: str = "UTC") -> date:
    """Today's date in `zone` (in Shanghai at 01:00 it is already tomorrow in UTC terms)."""
    return datetime.now(ZoneInfo(zone)).date()


def local_midnight(day: date, zone: str = "UTC") -> datetime:
    """The instant `day` begins in `zone`, in UTC (a 23- or 25-hour day around daylight saving is right)."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _parse_day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ValidationFailed(f"`{name}` must be a date written YYYY-MM-DD, got {value!r}.") from None
