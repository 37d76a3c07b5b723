"""Activity reports for the overview page: headline figures, daily trend, peak hours.

Counts come from the daily rollups (`analytics.rollups`); only what cannot be summed across days
is computed from the base tables: distinct visitors and latency percentiles (the latter from the
covering index on bot replies).
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from datetime import UTC, datetime, time, timedelta
from itertools import accumulate
from math import floor
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.period import Period

OVERVIEW_COLUMNS = ["conversations", "messages", "visitors", "dau_avg", "wau", "answer_rate", "thumbs_up_rate",
                    "csat_avg", "handoff_rate", "resolution_rate", "latency_p50_ms", "latency_p95_ms", "tokens",
                    "est_cost_usd"]
TREND_COLUMNS = ["day", "conversations", "messages", "visitors", "answer_rate", "thumbs_up_rate", "csat_avg",
                 "handoff_rate", "predicted_satisfaction"]

_TOTALS_SQL = text("""
SELECT coalesce(sum(conversations), 0) AS conversations, coalesce(sum(messages), 0) AS messages,
       coalesce(sum(visitors), 0) AS visitor_days, coalesce(sum(replies), 0) AS replies,
       coalesce(sum(answered), 0) AS answered, coalesce(sum(thumbs_up), 0) AS thumbs_up,
       coalesce(sum(thumbs_down), 0) AS thumbs_down, coalesce(sum(csat_sum), 0) AS csat_sum,
       coalesce(sum(csat_count), 0) AS csat_count, coalesce(sum(handoffs), 0) AS handoffs,
       coalesce(sum(resolved), 0) AS resolved,
       coalesce(sum(prompt_tokens + completion_tokens), 0) AS tokens,
       coalesce(sum(est_cost_usd), 0) AS est_cost_usd
FROM analytics_daily WHERE tenant_id = :tenant_id AND day BETWEEN :start AND :end
""")

_VISITORS_SQL = text("""
SELECT count(*) FROM (
    SELECT visitor_id FROM conversations
    WHERE tenant_id = :tenant_id AND started_at >= :lo AND started_at < :hi GROUP BY visitor_id
) AS v
""")

# Percentiles sort every reply latency of the period and distinct visitors hash every conversation:
# for a large tenant both spill to disk with the default 4 MB (docs/log/2026-11-26-analytics-scale.md).
# Transaction-local, so only these report queries get the extra memory.
_REPORT_WORK_MEM = text("SELECT set_config('work_mem', '64MB', true)")

# Latencies are whole milliseconds, so a few thousand distinct values stand for every reply:
# grouping them (a hash, no sort of half a million rows) gives exact percentiles.
_LATENCY_COUNTS_SQL = text("""
SELECT latency_ms, count(*) AS n FROM messages
WHERE tenant_id = :tenant_id AND role = 'assistant' AND created_at >= :lo AND created_at < :hi
  AND latency_ms IS NOT NULL
GROUP BY latency_ms ORDER BY latency_ms
""")


def latency_percentiles(session: Session, params: dict[str, object],
                        fractions: tuple[float, ...] = (0.5, 0.95)) -> list[float | None]:
    """Reply latency percentiles of the period, interpolated like PostgreSQL's `percentile_cont`."""
    counts = session.execute(_LATENCY_COUNTS_SQL, params).all()
    total = sum(n for _, n in counts)
    if not total:
        return [None] * len(fractions)
    ends = list(accumulate(n for _, n in counts))  # rank (exclusive) where each value's run ends

    def at(rank: int) -> float:
        return float(counts[bisect_right(ends, rank)][0])

    out: list[float | None] = []
    for fraction in fractions:
        position = fraction * (total - 1)
        low = floor(position)
        out.append(at(low) + (position - low) * (at(min(low + 1, total - 1)) - at(low)))
    return out


_TREND_SQL = text("""
SELECT day, conversations, messages, visitors, replies, answered, thumbs_up, thumbs_down, csat_sum, csat_count,
       handoffs
FROM analytics_daily WHERE tenant_id = :tenant_id AND day BETWEEN :start AND :end
""")

_PREDICTED_SQL = text("""
SELECT (c.started_at AT TIME ZONE :tz)::date AS day, avg(s.predicted_satisfaction) AS predicted_satisfaction
FROM conversation_scores s JOIN conversations c ON c.id = s.conversation_id
WHERE c.tenant_id = :tenant_id AND c.started_at >= :lo AND c.started_at < :hi
GROUP BY 1
""")

_PEAK_SQL = text("""
SELECT d.day, d.zone, h - 1 AS hour, d.messages_by_hour[h] AS messages
FROM analytics_daily d CROSS JOIN generate_series(1, 24) AS h
WHERE d.tenant_id = :tenant_id AND d.day BETWEEN :start AND :end AND d.messages_by_hour[h] > 0
""")


def ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def period_params(tenant_id: uuid.UUID | str, period: Period) -> dict[str, object]:
    return {"tenant_id": str(tenant_id), "start": period.start, "end": period.end,
            "lo": period.start_ts, "hi": period.end_ts, "tz": period.zone}


def overview(session: Session, tenant_id: uuid.UUID | str, period: Period) -> pd.DataFrame:
    """One row of headline figures for the period (rates are None when nothing was there to count).

    `dau_avg` averages daily unique visitors over every day of the period; `wau` counts unique
    visitors in the period's last seven days.
    """
    params = period_params(tenant_id, period)
    session.execute(_REPORT_WORK_MEM)
    totals = session.execute(_TOTALS_SQL, params).mappings().one()
    visitors = session.scalar(_VISITORS_SQL, params) or 0
    week = Period(max(period.start, period.end - timedelta(days=6)), period.end, period.zone)
    wau = session.scalar(_VISITORS_SQL, period_params(tenant_id, week)) or 0
    p50, p95 = latency_percentiles(session, params)
    row = {
        "conversations": int(totals["conversations"]),
        "messages": int(totals["messages"]),
        "visitors": int(visitors),
        "dau_avg": float(totals["visitor_days"]) / period.days,
        "wau": int(wau),
        "answer_rate": ratio(totals["answered"], totals["replies"]),
        "thumbs_up_rate": ratio(totals["thumbs_up"], totals["thumbs_up"] + totals["thumbs_down"]),
        "csat_avg": ratio(totals["csat_sum"], totals["csat_count"]),
        "handoff_rate": ratio(totals["handoffs"], totals["conversations"]),
        "resolution_rate": ratio(totals["resolved"], totals["conversations"]),
        "latency_p50_ms": p50,
        "latency_p95_ms": p95,
        "tokens": int(totals["tokens"]),
        "est_cost_usd": float(totals["est_cost_usd"]),
    }
    return pd.DataFrame([row], columns=OVERVIEW_COLUMNS)


def daily_trend(session: Session, tenant_id: uuid.UUID | str, period: Period) -> pd.DataFrame:
    """One row per day of the period (days without activity included, with zero counts)."""
    params = period_params(tenant_id, period)
    rows = {r["day"]: r for r in session.execute(_TREND_SQL, params).mappings()}
    predicted = {r.day: r.predicted_satisfaction for r in session.execute(_PREDICTED_SQL, params)}
    out = []
    for day in period.each_day():
        r = rows.get(day)
        score = predicted.get(day)
        out.append({
            "day": day,
            "conversations": int(r["conversations"]) if r else 0,
            "messages": int(r["messages"]) if r else 0,
            "visitors": int(r["visitors"]) if r else 0,
            "answer_rate": ratio(r["answered"], r["replies"]) if r else None,
            "thumbs_up_rate": ratio(r["thumbs_up"], r["thumbs_up"] + r["thumbs_down"]) if r else None,
            "csat_avg": ratio(r["csat_sum"], r["csat_count"]) if r else None,
            "handoff_rate": ratio(r["handoffs"], r["conversations"]) if r else None,
            "predicted_satisfaction": float(score) if score is not None else None,
        })
    return pd.DataFrame(out, columns=TREND_COLUMNS)


def peak_hours(session: Session, tenant_id: uuid.UUID | str, period: Period,
               timezone: str | None = None) -> pd.DataFrame:
    """Messages per weekday (0 = Monday) and hour of the tenant's time zone: all 7 × 24 cells, zeros included.

    The rollups count messages per hour of their own zone (the tenant's when they were computed);
    each hour is moved to the weekday and hour it was in `timezone` (the period's zone by default;
    daylight saving included), so an owner in Shanghai sees 9 a.m. as 9, not 1.
    """
    zone = ZoneInfo(timezone or period.zone)
    counts: dict[tuple[int, int], int] = {}
    for r in session.execute(_PEAK_SQL, period_params(tenant_id, period)):
        start = datetime.combine(r.day, time(int(r.hour)), tzinfo=ZoneInfo(r.zone))
        moment = start.astimezone(UTC).astimezone(zone)
        key = (moment.weekday(), moment.hour)
        counts[key] = counts.get(key, 0) + int(r.messages)
    cells = [{"weekday": w, "hour": h, "messages": counts.get((w, h), 0)} for w in range(7) for h in range(24)]
    return pd.DataFrame(cells, columns=["weekday", "hour", "messages"])
