"""Report functions for the admin app, the API and exports: `(session, tenant_id, period, ...)` → DataFrame.

The session is a tenant-scoped synchronous session (`core.db.tenant_session_sync`), so row-level
security applies to every query; each function also filters by `tenant_id` so indexes are used.
All aggregation happens in SQL (mostly over the daily rollups of `analytics.rollups`); nothing
loads every row into pandas. Figures from rollups are as fresh as the last `refresh_rollups` run.
"""

from analytics.activity import daily_trend, overview, peak_hours
from analytics.quality import knowledge_gaps, live_accuracy, satisfaction_summary, service_status
from analytics.transcripts import conversations, transcript

__all__ = [
    "conversations",
    "daily_trend",
    "knowledge_gaps",
    "live_accuracy",
    "overview",
    "peak_hours",
    "satisfaction_summary",
    "service_status",
    "transcript",
]
