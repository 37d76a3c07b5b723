"""Numbers, durations, counts, dates and times as a reader expects them, in the admin app's language.

Times are stored in UTC; `local()` turns them into the tenant's time zone (Settings → Time zone)
before they are shown, charted or exported.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from dash_app.i18n import language, t

WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DASH = "–"


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def number(value: Any, digits: int = 0) -> str:
    """1,234 or 1,234.5 (the same grouping reads naturally in Chinese)."""
    if missing(value):
        return DASH
    return f"{float(value):,.{digits}f}"


def percent(value: Any, digits: int = 0) -> str:
    """A share in 0..1 as a percentage: 0.7857 → 79%."""
    if missing(value):
        return DASH
    return f"{float(value) * 100:.{digits}f}%"


def duration_ms(value: Any) -> str:
    """850 ms, 1.2 s, 2 min 5 s (毫秒, 秒, 分)."""
    if missing(value):
        return DASH
    ms = float(value)
    zh = language() == "zh"
    if ms < 1000:
        return f"{ms:,.0f} {'毫秒' if zh else 'ms'}"
    if ms < 60_000:
        return f"{ms / 1000:.1f} {'秒' if zh else 's'}"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} 分 {seconds} 秒" if zh else f"{minutes} min {seconds} s"


def count(n: Any, one: str, many: str) -> str:
    """'1 question' / '3 questions'; `many` is also the dictionary key of the Chinese form ('{n} 个问题')."""
    if missing(n):
        return DASH
    whole = int(n)
    if language() == "zh":
        return t(many).format(n=f"{whole:,}")
    return (one if whole == 1 else many).format(n=f"{whole:,}")


def yes_no(value: Any) -> str:
    if missing(value):
        return ""
    return t("yes") if bool(value) else t("no")


def weekdays() -> tuple[str, ...]:
    return WEEKDAYS_ZH if language() == "zh" else WEEKDAYS_EN


def zone(name: str | None) -> tzinfo:
    """The tenant's time zone; UTC when unset or unknown."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local(value: Any, tz: tzinfo) -> datetime | None:
    """A stored timestamp (UTC when naive) in the tenant's time zone."""
    if missing(value):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    return stamp.tz_convert(tz).to_pydatetime()


def when(value: Any, tz: tzinfo, *, seconds: bool = False) -> str:
    """A timestamp in the tenant's zone as 2026-12-07 14:05 (sortable, the same in both languages)."""
    shown = local(value, tz)
    if shown is None:
        return ""
    return shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def day(value: Any) -> str:
    """A calendar day for cards and titles: Dec 7, 2026 / 2026年12月7日."""
    if missing(value):
        return DASH
    if isinstance(value, datetime):
        d = value.date()
    else:
        d = value if isinstance(value, date) else pd.Timestamp(value).date()
    if language() == "zh":
        return f"{d.year}年{d.month}月{d.day}日"
    return f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}"
