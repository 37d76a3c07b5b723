"""Daily rollups: one `analytics_daily` row per tenant-day, so reports never rescan every message.

Days and hours are the tenant's own (`core.tenancy.tenant_timezone`, Settings → Time zone): a
message at 01:00 in Shanghai on the 8th counts on the 8th, in hour 1. Each row records the zone it
was computed in (`zone`); when the tenant's zone changes, the next refresh drops the rows of the old
zone and recomputes every day.

Attribution: messages, tokens and cost count on the day they were written; thumbs count on the day
of the rated reply; conversation outcomes (visitors, hand-off, resolution, CSAT) on the day the
conversation started.

`refresh` is incremental: it recomputes the last `analytics_rollup_lookback_days` days, plus every
day that has rows written or changed since the tenant's previous refresh (messages, feedback,
conversation activity/hand-off/end). Rows inserted later with timestamps older than the lookback
(imports, backfills) need `refresh(..., full=True)` (`kefu analytics refresh --full`).

A conversation counts as resolved when it says so (`conversations.resolved`) or, when that is
unknown, when it was not handed off, no question in it failed, and every bot reply answered.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.cost import FREE_PROVIDERS, price_table_json
from analytics.period import local_midnight
from core.settings import get_settings
from core.tenancy import tenant_timezone

_HOURS = ",\n        ".join(
    f"count(*) FILTER (WHERE extract(hour FROM m.created_at AT TIME ZONE :tz) = {h})" for h in range(24)
)

_REFRESH_SQL = f"""
WITH days AS (SELECT unnest(CAST(:days AS date[])) AS day),
prices AS (
    SELECT * FROM jsonb_to_recordset(CAST(:prices AS jsonb)) AS p(model text, prompt float8, completion float8)
),
msg AS (
    SELECT (m.created_at AT TIME ZONE :tz)::date AS day,
        count(*) AS messages,
        count(*) FILTER (WHERE m.role = 'customer') AS customer_messages,
        count(*) FILTER (WHERE m.role = 'assistant') AS replies,
        count(*) FILTER (WHERE m.role = 'assistant' AND m.answered) AS answered,
        count(*) FILTER (WHERE m.role = 'assistant' AND m.answered IS NOT TRUE) AS fallbacks,
        count(*) FILTER (WHERE m.role = 'customer' AND m.status = 'failed') AS failed,
        sum(m.prompt_tokens) AS prompt_tokens,
        sum(m.completion_tokens) AS completion_tokens,
        sum(CASE WHEN m.provider = ANY(CAST(:free AS text[])) THEN 0
                 ELSE (m.prompt_tokens * coalesce(p.prompt, 0) + m.completion_tokens * coalesce(p.completion, 0))
                      / 1000.0 END) AS est_cost_usd,
        ARRAY[{_HOURS}] AS messages_by_hour
    FROM messages m LEFT JOIN prices p ON p.model = m.model
    WHERE m.tenant_id = CAST(:tenant_id AS uuid) AND (m.created_at AT TIME ZONE :tz)::date IN (SELECT day FROM days)
      AND m.created_at >= :lo AND m.created_at < :hi
    GROUP BY 1
),
fb AS (
    SELECT (m.created_at AT TIME ZONE :tz)::date AS day,
        count(*) FILTER (WHERE f.rating = 1) AS thumbs_up,
        count(*) FILTER (WHERE f.rating = -1) AS thumbs_down
    FROM feedback f JOIN messages m ON m.id = f.message_id
    WHERE m.tenant_id = CAST(:tenant_id AS uuid) AND (m.created_at AT TIME ZONE :tz)::date IN (SELECT day FROM days)
      AND m.created_at >= :lo AND m.created_at < :hi
    GROUP BY 1
),
conv AS (
    SELECT (c.started_at AT TIME ZONE :tz)::date AS day,
        count(*) AS conversations,
        count(DISTINCT c.visitor_id) AS visitors,
        count(*) FILTER (WHERE c.handoff) AS handoffs,
        count(*) FILTER (WHERE coalesce(c.resolved, NOT c.handoff AND NOT EXISTS (
            SELECT 1 FROM messages r WHERE r.conversation_id = c.id AND (
                (r.role = 'assistant' AND r.answered IS NOT TRUE) OR (r.role = 'customer' AND r.status = 'failed'))
        ))) AS resolved,
        coalesce(sum(c.csat), 0) AS csat_sum,
        count(c.csat) AS csat_count
    FROM conversations c
    WHERE c.tenant_id = CAST(:tenant_id AS uuid) AND (c.started_at AT TIME ZONE :tz)::date IN (SELECT day FROM days)
      AND c.started_at >= :lo AND c.started_at < :hi
    GROUP BY 1
)
INSERT INTO analytics_daily AS a (
    tenant_id, day, zone, conversations, visitors, messages, customer_messages, replies, answered, fallbacks,
    failed, handoffs, resolved, csat_sum, csat_count, thumbs_up, thumbs_down, prompt_tokens,
    completion_tokens, est_cost_usd, messages_by_hour, refreshed_at)
SELECT CAST(:tenant_id AS uuid), d.day, CAST(:tz AS text),
    coalesce(conv.conversations, 0), coalesce(conv.visitors, 0), coalesce(msg.messages, 0),
    coalesce(msg.customer_messages, 0), coalesce(msg.replies, 0), coalesce(msg.answered, 0),
    coalesce(msg.fallbacks, 0), coalesce(msg.failed, 0), coalesce(conv.handoffs, 0),
    coalesce(conv.resolved, 0), coalesce(conv.csat_sum, 0), coalesce(conv.csat_count, 0),
    coalesce(fb.thumbs_up, 0), coalesce(fb.thumbs_down, 0), coalesce(msg.prompt_tokens, 0),
    coalesce(msg.completion_tokens, 0), coalesce(msg.est_cost_usd, 0),
    coalesce(msg.messages_by_hour, array_fill(0, ARRAY[24])), :now
FROM days d
LEFT JOIN msg ON msg.day = d.day LEFT JOIN fb ON fb.day = d.day LEFT JOIN conv ON conv.day = d.day
ON CONFLICT (tenant_id, day) DO UPDATE SET zone = excluded.zone,
    conversations = excluded.conversations, visitors = excluded.visitors, messages = excluded.messages,
    customer_messages = excluded.customer_messages, replies = excluded.replies,
    answered = excluded.answered, fallbacks = excluded.fallbacks, failed = excluded.failed,
    handoffs = excluded.handoffs, resolved = excluded.resolved, csat_sum = excluded.csat_sum,
    csat_count = excluded.csat_count, thumbs_up = excluded.thumbs_up, thumbs_down = excluded.thumbs_down,
    prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
    est_cost_usd = excluded.est_cost_usd, messages_by_hour = excluded.messages_by_hour,
    refreshed_at = excluded.refreshed_at
"""

# Days whose figures may have changed since `since` (the previous refresh).
_CHANGED_DAYS_SQL = """
SELECT (created_at AT TIME ZONE :tz)::date FROM messages WHERE tenant_id = :tenant_id AND created_at >= :since
UNION
SELECT (m.created_at AT TIME ZONE :tz)::date
    FROM feedback f JOIN messages m ON m.id = f.message_id WHERE f.tenant_id = :tenant_id AND f.created_at >= :since
UNION
SELECT (started_at AT TIME ZONE :tz)::date FROM conversations
    WHERE tenant_id = :tenant_id AND greatest(last_message_at, handoff_at, ended_at) >= :since
"""

_FIRST_DAY_SQL = """
SELECT least((SELECT min(started_at) FROM conversations WHERE tenant_id = :tenant_id),
             (SELECT min(created_at) FROM messages WHERE tenant_id = :tenant_id))
"""
_WATERMARK_SQL = "SELECT max(refreshed_at) FROM analytics_daily WHERE tenant_id = :tenant_id"
# Rows computed in another zone than the tenant's current one (the zone was changed since).
_DROP_OTHER_ZONES_SQL = "DELETE FROM analytics_daily WHERE tenant_id = :tenant_id AND zone <> :tz"

# Rows written by transactions that began before the previous refresh but committed after it carry
# timestamps just before the watermark; look back a little further than the watermark itself.
_COMMIT_SLACK = timedelta(minutes=10)


def refresh(session: Session, tenant_id: uuid.UUID | str, *, full: bool = False,
            today: date | None = None) -> list[date]:
    """Recompute the tenant's changed days (or every day with `full`); returns the days written.

    `today` is the tenant's local date (taken from the clock when omitted).
    """
    now = datetime.now(UTC)
    zone = tenant_timezone(session, uuid.UUID(str(tenant_id)))
    today = today or now.astimezone(ZoneInfo(zone)).date()
    if session.execute(text(_DROP_OTHER_ZONES_SQL), {"tenant_id": str(tenant_id), "tz": zone}).rowcount:
        full = True  # the tenant changed its time zone: every day's figures move
    days = _days_to_refresh(session, str(tenant_id), today, zone, full=full)
    return _write(session, tenant_id, days, zone, now)


def _write(session: Session, tenant_id: uuid.UUID | str, days: list[date], zone: str, now: datetime) -> list[date]:
    if not days:
        return []
    session.execute(text(_REFRESH_SQL), {
        "days": days, "prices": price_table_json(), "free": list(FREE_PROVIDERS), "tenant_id": str(tenant_id),
        "lo": local_midnight(min(days), zone), "hi": local_midnight(max(days) + timedelta(days=1), zone),
        "tz": zone, "now": now,
    })
    return days


def _days_to_refresh(session: Session, tenant_id: str, today: date, zone: str, *, full: bool) -> list[date]:
    tenant = {"tenant_id": tenant_id}
    watermark = None if full else session.scalar(text(_WATERMARK_SQL), tenant)
    if watermark is None:
        first = session.scalar(text(_FIRST_DAY_SQL), tenant)
        if first is None:
            return []
        start = min(first.astimezone(ZoneInfo(zone)).date(), today)
        return [start + timedelta(days=i) for i in range((today - start).days + 1)]
    lookback = get_settings().analytics_rollup_lookback_days
    days = {today - timedelta(days=i) for i in range(lookback)}
    changed = session.scalars(text(_CHANGED_DAYS_SQL), {**tenant, "tz": zone, "since": watermark - _COMMIT_SLACK})
    days.update(day for day in changed if day is not None)
    return sorted(days)


def refresh_days(session: Session, tenant_id: uuid.UUID | str, days: list[date]) -> list[date]:
    """Recompute exactly `days`, the tenant's local days (after an erasure: the days the erased rows counted on)."""
    zone = tenant_timezone(session, uuid.UUID(str(tenant_id)))
    return _write(session, tenant_id, sorted(days), zone, datetime.now(UTC))
