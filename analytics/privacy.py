"""Privacy operations (GDPR/PIPL): erase one person's conversations and what was derived from them.

`erase` deletes the conversations of a visitor id or of a verified user id, and with them (by
cascade) their messages, feedback, hand-offs, satisfaction scores and knowledge-gap questions; in
the same transaction it recomputes the daily rollups of every day those rows counted on and
rewrites the knowledge-gap topics that quoted them (a topic left without questions goes). So an
export or a report made after the commit no longer contains the person. `apply_retention` does
the same for conversations older than the tenant's retention period, in batches.

The chat engine's Redis copy of recent turns is forgotten after the commit (core.redis names the
keys, so this module needs nothing from `chat`), and so are the conversations' voice recordings in
the blob store (kept under the conversation, core.blobstore.conversation_audio_prefix).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from analytics import rollups
from core import audit
from core.blobstore import conversation_audio_prefix, get_blob_store
from core.db import tenant_session_sync
from core.models import Conversation, Feedback, Handoff, KnowledgeGapQuestion, KnowledgeGapTopic, Message, Tenant
from core.redis import conversation_owner_key, conversation_turns_key, sync_redis
from core.tenancy import tenant_timezone

log = logging.getLogger(__name__)
RETENTION_BATCH = 1000
# As analytics.gaps labels topics (not imported: it loads scikit-learn, which the API never needs).
MAX_EXAMPLES = 5
_LABEL_CHARS = 80


@dataclass
class Erased:
    """How much was deleted, and the days whose reports were recomputed."""

    conversations: int = 0
    messages: int = 0
    feedback: int = 0
    handoffs: int = 0
    knowledge_gap_questions: int = 0
    days_recomputed: list[str] = field(default_factory=list)
    conversation_ids: list[uuid.UUID] = field(default_factory=list, repr=False)

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("conversation_ids")
        return out

    def add(self, other: Erased) -> None:
        for name in ("conversations", "messages", "feedback", "handoffs", "knowledge_gap_questions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.days_recomputed = sorted(set(self.days_recomputed) | set(other.days_recomputed))
        self.conversation_ids += other.conversation_ids


def erase_where(session: Session, tenant_id: uuid.UUID, condition: ColumnElement[bool], *,
                limit: int | None = None) -> Erased:
    """Delete the tenant's conversations matching `condition` (at most `limit`) and adjust what derived from them."""
    query = select(Conversation.id, Conversation.started_at).where(Conversation.tenant_id == tenant_id, condition)
    if limit is not None:
        query = query.order_by(Conversation.last_message_at).limit(limit)
    rows = session.execute(query.with_for_update()).all()
    if not rows:
        return Erased()
    ids = [r.id for r in rows]
    zone = tenant_timezone(session, tenant_id)  # the rollups' days are the tenant's local days
    days = {_day(r.started_at, zone) for r in rows}
    days.update(_day(d, zone) for d in session.scalars(
        select(func.min(Message.created_at)).where(Message.conversation_id.in_(ids))
        .group_by(func.date_trunc("day", Message.created_at, zone))))
    erased = Erased(
        conversations=len(ids),
        messages=_count(session, Message, Message.conversation_id.in_(ids)),
        feedback=_count(session, Feedback, Feedback.conversation_id.in_(ids)),
        handoffs=_count(session, Handoff, Handoff.conversation_id.in_(ids)),
        conversation_ids=ids,
    )
    message_ids = select(Message.id).where(Message.conversation_id.in_(ids))
    topics = set(session.scalars(select(KnowledgeGapQuestion.topic_id)
                                 .where(KnowledgeGapQuestion.message_id.in_(message_ids))))
    erased.knowledge_gap_questions = _count(session, KnowledgeGapQuestion,
                                            KnowledgeGapQuestion.message_id.in_(message_ids))
    # Messages, feedback, hand-offs, scores and gap questions go with their conversation (ON DELETE CASCADE).
    session.execute(delete(Conversation).where(Conversation.tenant_id == tenant_id, Conversation.id.in_(ids)))
    _rewrite_topics(session, topics)
    written = rollups.refresh_days(session, tenant_id, sorted(days))
    erased.days_recomputed = [d.isoformat() for d in written]
    return erased


def erase_visitor(session: Session, tenant_id: uuid.UUID, visitor_id: str) -> Erased:
    """Everything of one widget visitor id (every conversation it started, signed in or not)."""
    return erase_where(session, tenant_id, Conversation.visitor_id == visitor_id)


def erase_user(session: Session, tenant_id: uuid.UUID, user_id: str) -> Erased:
    """Everything of one verified user (their conversations from every device)."""
    return erase_where(session, tenant_id, Conversation.user_id == user_id)


def expired_condition(retention_days: int, now: datetime) -> ColumnElement[bool]:
    return Conversation.last_message_at < now - timedelta(days=retention_days)


def retention_days(session: Session, tenant_id: uuid.UUID) -> int | None:
    return session.scalar(select(Tenant.retention_days).where(Tenant.id == tenant_id))


def forget_cached_turns(conversation_ids: list[uuid.UUID]) -> None:
    """Drop the chat engine's Redis copy of erased conversations (they would expire within a day anyway)."""
    if not conversation_ids:
        return
    keys = [k for c in conversation_ids for k in (conversation_turns_key(c), conversation_owner_key(c))]
    try:
        client = sync_redis()
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])
    except redis.RedisError:
        log.warning("redis unavailable; erased conversations' cached turns expire on their own within a day")


def forget_audio(tenant_id: uuid.UUID, conversation_ids: list[uuid.UUID]) -> int:
    """Delete the voice recordings of erased conversations (after the commit); how many went.

    A store that fails is logged, not raised: the conversations are already gone, and a recording
    left behind is deleted by the next erasure of the same ids only, so the log says which.
    """
    removed = 0
    store = get_blob_store()
    for conversation_id in conversation_ids:
        try:
            removed += store.delete_under(conversation_audio_prefix(tenant_id, conversation_id))
        except Exception:  # the blob store (S3) may be down; the rows are already erased
            log.exception("voice recordings of an erased conversation not deleted",
                          extra={"tenant_id": str(tenant_id), "conversation_id": str(conversation_id)})
    return removed


def forget_after_commit(tenant_id: uuid.UUID, erased: Erased) -> None:
    """What lives outside PostgreSQL: the cached turns in Redis and the voice recordings."""
    forget_cached_turns(erased.conversation_ids)
    forget_audio(tenant_id, erased.conversation_ids)


def _day(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()


def _count(session: Session, model: Any, condition: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(condition)) or 0)


def _rewrite_topics(session: Session, topic_ids: set[uuid.UUID]) -> None:
    """Topics that quoted erased questions keep only what remains; a topic with nothing left goes."""
    for topic_id in topic_ids:
        topic = session.get(KnowledgeGapTopic, topic_id)
        if topic is None:
            continue
        remaining = list(session.scalars(select(KnowledgeGapQuestion.text)
                                         .where(KnowledgeGapQuestion.topic_id == topic_id)
                                         .order_by(KnowledgeGapQuestion.asked_at.desc())))
        if not remaining:
            session.delete(topic)
            continue
        texts = set(remaining)
        examples = [e for e in topic.examples if e in texts]
        examples += [t for t in dict.fromkeys(remaining) if t not in examples][: MAX_EXAMPLES - len(examples)]
        topic.examples = examples[:MAX_EXAMPLES]
        topic.count = len(remaining)
        if not any(t.startswith(topic.label.rstrip("…")) for t in texts):
            first = examples[0]
            topic.label = first if len(first) <= _LABEL_CHARS else first[: _LABEL_CHARS - 1] + "…"
    session.flush()


def apply_retention(tenant_id: uuid.UUID, *, now: datetime | None = None) -> Erased:
    """Delete the tenant's conversations older than its retention period, in batches (one transaction each).

    Each batch is audited as the system's action; the worker runs this hourly for every tenant.
    """
    now = now or datetime.now(UTC)
    total = Erased()
    while True:
        with tenant_session_sync(tenant_id) as session:
            days = retention_days(session, tenant_id)
            if days is None:
                return total
            batch = erase_where(session, tenant_id, expired_condition(days, now), limit=RETENTION_BATCH)
            if batch.conversations:
                audit.record(session, tenant_id, None, "privacy.retention", f"older than {days} days", batch.public())
        forget_after_commit(tenant_id, batch)
        total.add(batch)
        if batch.conversations < RETENTION_BATCH:
            return total
