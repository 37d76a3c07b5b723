"""The grounded rate: the share of model-written answers whose every claim the evidence supports.

Read from `answer_checks` (written by chat.grounding for each model answer); answers of the local
responder are composed from the passages and are not checked, so they are not counted here.
"""

from __future__ import annotations

import uuid

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.period import Period

FLAGGED_COLUMNS = ["created_at", "question", "draft", "unsupported", "action", "message_id"]


def grounded_daily(session: Session, tenant_id: uuid.UUID, period: Period) -> pd.DataFrame:
    """Per day of `period`: checked answers, grounded answers and the grounded rate (None without answers)."""
    rows = session.execute(
        text("""
        SELECT (created_at AT TIME ZONE :tz)::date AS day, count(*) AS checked,
               count(*) FILTER (WHERE grounded) AS grounded
        FROM answer_checks
        WHERE tenant_id = :tenant AND created_at >= :start AND created_at < :end
        GROUP BY 1
    """),
        {"tenant": tenant_id, "start": period.start_ts, "end": period.end_ts, "tz": period.zone},
    ).all()
    found = {row.day: (row.checked, row.grounded) for row in rows}
    frame = pd.DataFrame(
        [
            {"day": day, "checked": found.get(day, (0, 0))[0], "grounded": found.get(day, (0, 0))[1]}
            for day in period.each_day()
        ],
        columns=["day", "checked", "grounded"],
    )
    frame["rate"] = (frame["grounded"] / frame["checked"].where(frame["checked"] > 0)).astype(float)
    return frame


def flagged_answers(session: Session, tenant_id: uuid.UUID, period: Period, limit: int = 50) -> pd.DataFrame:
    """The newest answers with unsupported sentences: the question, the model's draft, what was flagged."""
    rows = session.execute(
        text("""
        SELECT created_at, question, draft, flagged, action, message_id
        FROM answer_checks
        WHERE tenant_id = :tenant AND NOT grounded AND created_at >= :start AND created_at < :end
        ORDER BY created_at DESC, id DESC
        LIMIT :limit
    """),
        {"tenant": tenant_id, "start": period.start_ts, "end": period.end_ts, "limit": limit},
    ).all()
    return pd.DataFrame(
        [
            {
                "created_at": row.created_at,
                "question": row.question,
                "draft": row.draft,
                "unsupported": " | ".join(f["text"] for f in row.flagged),
                "action": row.action,
                "message_id": str(row.message_id),
            }
            for row in rows
        ],
        columns=FLAGGED_COLUMNS,
    )
