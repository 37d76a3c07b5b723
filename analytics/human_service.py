"""How people served handed-off customers: volume, time to first human response, time to resolve.

Per day (of the hand-off, in the period's time zone) and per agent (the conversation's assignee), from the columns the
agent inbox writes: `conversations.handoff_at`, `assignee_id`, `inbox_resolved_at` and the first
`messages` row with role `agent` after the hand-off. Medians and 90th percentiles in seconds; a
hand-off nobody has answered yet counts in the volume, not in the times.
"""

from __future__ import annotations

import uuid

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.activity import period_params
from analytics.period import Period

_HANDOFFS = """
WITH h AS (
    SELECT c.id, c.handoff_at, c.assignee_id, c.inbox_resolved_at,
           (SELECT min(m.created_at) FROM messages m
             WHERE m.conversation_id = c.id AND m.role = 'agent' AND m.created_at >= c.handoff_at) AS first_reply_at
      FROM conversations c
     WHERE c.tenant_id = :tenant_id AND c.handoff_at >= :lo AND c.handoff_at < :hi
), t AS (
    SELECT h.*, extract(epoch FROM first_reply_at - handoff_at) AS first_response_s,
           extract(epoch FROM inbox_resolved_at - handoff_at) AS resolve_s
      FROM h
)
"""
_STATS = """count(*) AS handoffs, count(first_response_s) AS answered, count(resolve_s) AS resolved,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_s) AS first_response_p50_s,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY first_response_s) AS first_response_p90_s,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_s) AS resolve_p50_s,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY resolve_s) AS resolve_p90_s"""
STAT_COLUMNS = ["handoffs", "answered", "resolved", "first_response_p50_s", "first_response_p90_s",
                "resolve_p50_s", "resolve_p90_s"]

_BY_DAY = text(_HANDOFFS + f"""
SELECT d::date AS day, {_STATS.replace("count(*)", "count(t.id)")}
  FROM generate_series(CAST(:start AS date), CAST(:end AS date), interval '1 day') AS d
  LEFT JOIN t ON (t.handoff_at AT TIME ZONE :tz)::date = d::date
 GROUP BY d ORDER BY d""")
_BY_AGENT = text(_HANDOFFS + f"""
SELECT coalesce(u.display_name, u.email, '(unassigned)') AS agent, {_STATS}
  FROM t LEFT JOIN users u ON u.id = t.assignee_id
 GROUP BY 1 ORDER BY handoffs DESC, agent""")
_TOTAL = text(_HANDOFFS + f"SELECT {_STATS} FROM t")


def by_day(session: Session, tenant_id: uuid.UUID | str, period: Period) -> pd.DataFrame:
    """One row per day of the period (days without hand-offs included, with zero counts)."""
    rows = session.execute(_BY_DAY, period_params(tenant_id, period)).mappings().all()
    return pd.DataFrame(rows, columns=["day", *STAT_COLUMNS])


def by_agent(session: Session, tenant_id: uuid.UUID | str, period: Period) -> pd.DataFrame:
    """One row per agent who held a hand-off of the period ("(unassigned)" for those nobody took)."""
    rows = session.execute(_BY_AGENT, period_params(tenant_id, period)).mappings().all()
    return pd.DataFrame(rows, columns=["agent", *STAT_COLUMNS])


def totals(session: Session, tenant_id: uuid.UUID | str, period: Period) -> dict[str, float | int | None]:
    """The period's hand-off volume and response/resolve times, as one row."""
    return dict(session.execute(_TOTAL, period_params(tenant_id, period)).mappings().one())
