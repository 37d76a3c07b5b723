"""Knowledge gaps: recent customer questions the bot could not answer or that were rated down,
clustered into topics (`analytics.gaps.cluster_questions`) and stored as the tenant's latest batch.

A question counts when its reply fell back (not answered), its reply was rated down, or it failed
to get a reply at all; a request for a human (the reply handed off) does not. The newest
`MAX_QUESTIONS` of the last `WINDOW_DAYS` days are clustered; the
new batch replaces the old one in one transaction, so readers see one batch or the other.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, text

from analytics.gaps import cluster_questions
from core.db import tenant_session_sync
from core.models import KnowledgeGapQuestion, KnowledgeGapTopic

WINDOW_DAYS = 90
MAX_QUESTIONS = 5_000
MAX_TOPICS = 20
EXAMPLES = 5

_QUESTIONS_SQL = text("""
SELECT q.id, q.text, q.created_at FROM messages q
LEFT JOIN messages r ON r.reply_to = q.id
LEFT JOIN feedback f ON f.message_id = r.id
WHERE q.tenant_id = :tenant_id AND q.role = 'customer' AND q.created_at >= :since
  AND length(trim(q.text)) > 0
  AND r.handoff IS NOT TRUE  -- a request for a person is no gap in the knowledge
  AND (q.status = 'failed' OR r.answered IS NOT TRUE AND r.id IS NOT NULL OR f.rating = -1)
ORDER BY q.created_at DESC LIMIT :limit
""")


def refresh_topics(tenant_id: uuid.UUID, *, now: datetime | None = None) -> int:
    """Recluster the tenant's gap questions; returns the number of topics stored."""
    now = now or datetime.now(UTC)
    with tenant_session_sync(tenant_id) as session:
        rows = session.execute(_QUESTIONS_SQL, {"tenant_id": str(tenant_id), "since": now - timedelta(days=WINDOW_DAYS),
                                                "limit": MAX_QUESTIONS}).all()
    topics = cluster_questions([r.text for r in rows], max_topics=MAX_TOPICS) if rows else []
    with tenant_session_sync(tenant_id) as session:
        session.execute(delete(KnowledgeGapTopic).where(KnowledgeGapTopic.tenant_id == tenant_id))
        for rank, topic in enumerate(topics):
            topic_id = uuid.uuid4()
            session.add(KnowledgeGapTopic(id=topic_id, tenant_id=tenant_id, clustered_at=now, rank=rank,
                                          label=topic.label, count=topic.count,
                                          examples=list(topic.examples)[:EXAMPLES]))
            session.flush()
            session.add_all([KnowledgeGapQuestion(tenant_id=tenant_id, topic_id=topic_id, message_id=rows[i].id,
                                                  asked_at=rows[i].created_at, text=rows[i].text)
                             for i in topic.member_indices])
    return len(topics)
