"""Finding conversations and reading their transcripts (citations, tool calls, ratings).

`user_name` and `user_email` are set only for customers the tenant's site signed in (identity
verification); anonymous visitors have just their `visitor_id`.

A conversation's `rating` is 'down' when any reply in it was rated down, else 'up' when any was
rated up, else None. It is `unanswered` when a bot reply fell back (not answered) or a customer
message failed to get a reply.
"""

from __future__ import annotations

import uuid

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.period import Period
from core.errors import ValidationFailed

CONVERSATION_COLUMNS = ["conversation_id", "started_at", "visitor_id", "messages", "first_question", "rating",
                        "csat", "handed_off", "unanswered", "predicted_satisfaction", "user_name", "user_email"]
TRANSCRIPT_COLUMNS = ["created_at", "role", "content", "citations", "tool_calls", "confidence", "answered",
                      "latency_ms", "rating"]
MAX_LIMIT = 5_000

_HAS_DOWN = "EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id AND f.rating = -1)"
_HAS_UP = "EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id AND f.rating = 1)"
_UNANSWERED = ("EXISTS (SELECT 1 FROM messages u WHERE u.conversation_id = c.id AND ("
               "(u.role = 'assistant' AND u.answered IS NOT TRUE) OR (u.role = 'customer' AND u.status = 'failed')))")


def conversations(session: Session, tenant_id: uuid.UUID | str, period: Period, *, search: str | None = None,
                  rating: str | None = None, handed_off: bool | None = None, unanswered: bool | None = None,
                  limit: int = 200) -> pd.DataFrame:
    """Conversations started in the period, newest first, matching every filter given."""
    if rating not in (None, "up", "down"):
        raise ValidationFailed("rating must be 'up' or 'down'.")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.")
    where = ["c.tenant_id = :tenant_id", "c.started_at >= :lo", "c.started_at < :hi"]
    params: dict[str, object] = {"tenant_id": str(tenant_id), "lo": period.start_ts, "hi": period.end_ts,
                                 "limit": limit}
    if search and search.strip():
        where.append("(c.visitor_id = :exact OR EXISTS (SELECT 1 FROM messages s WHERE s.conversation_id = c.id "
                     "AND s.text ILIKE :pattern ESCAPE '\\'))")
        term = search.strip()
        params["exact"] = term
        params["pattern"] = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if rating == "down":
        where.append(_HAS_DOWN)
    elif rating == "up":
        where.append(f"{_HAS_UP} AND NOT {_HAS_DOWN}")
    if handed_off is not None:
        where.append("c.handoff" if handed_off else "NOT c.handoff")
    if unanswered is not None:
        where.append(_UNANSWERED if unanswered else f"NOT {_UNANSWERED}")
    sql = f"""
    WITH picked AS (
        SELECT c.id, c.started_at, c.visitor_id, c.message_count, c.csat, c.handoff, c.user_name, c.user_email
        FROM conversations c
        WHERE {' AND '.join(where)} ORDER BY c.started_at DESC, c.id LIMIT :limit
    )
    SELECT c.id::text AS conversation_id, c.started_at, c.visitor_id, c.message_count AS messages,
        (SELECT q.text FROM messages q WHERE q.conversation_id = c.id AND q.role = 'customer'
            ORDER BY q.created_at LIMIT 1) AS first_question,
        CASE WHEN {_HAS_DOWN} THEN 'down' WHEN {_HAS_UP} THEN 'up' END AS rating,
        c.csat, c.handoff AS handed_off, {_UNANSWERED} AS unanswered,
        (SELECT s.predicted_satisfaction FROM conversation_scores s WHERE s.conversation_id = c.id)
            AS predicted_satisfaction,
        c.user_name, c.user_email
    FROM picked c ORDER BY c.started_at DESC, c.id
    """
    rows = session.execute(text(sql), params).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=CONVERSATION_COLUMNS)


_TRANSCRIPT_SQL = text("""
SELECT m.created_at, m.role, m.text AS content, m.citations, m.tool_calls, m.confidence, m.answered,
       m.latency_ms, CASE f.rating WHEN 1 THEN 'up' WHEN -1 THEN 'down' END AS rating
FROM messages m LEFT JOIN feedback f ON f.message_id = m.id
WHERE m.tenant_id = :tenant_id AND m.conversation_id = :conversation_id
ORDER BY m.created_at, m.role DESC
""")


def transcript(session: Session, tenant_id: uuid.UUID | str, conversation_id: uuid.UUID | str) -> pd.DataFrame:
    """Every message of one conversation in order (empty when it is not this tenant's)."""
    try:
        conversation = uuid.UUID(str(conversation_id))
    except ValueError:
        raise ValidationFailed(f"{conversation_id!r} is not a conversation id.") from None
    rows = session.execute(_TRANSCRIPT_SQL, {"tenant_id": str(tenant_id),
                                             "conversation_id": conversation}).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=TRANSCRIPT_COLUMNS)
