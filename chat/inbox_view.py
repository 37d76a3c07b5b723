"""What an agent reads about one conversation: the transcript with the bot's sources and
confidence, the hand-off, and agent assist (the FAQ entries retrieval finds for the customer's
last message, ready to insert into a reply)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from chat.handoff import inbox_state
from core.db import tenant_session
from core.errors import NotFound
from core.models import Chunk, Conversation, Document, Message, User
from knowledge.hits import Hit
from knowledge.retrieval import retrieve

ASSIST_HITS = 3
SNIPPET_CHARS = 300


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"


def _source(meta: dict[str, Any], text: str, title: str) -> dict[str, Any]:
    """An FAQ entry as its question and answer; a passage as its document (and heading) and text."""
    if meta.get("kind") == "faq":
        # A similar question's chunk stands for its row (`variant_of`: the row's own question).
        question = meta.get("variant_of") or meta.get("question")
        return {"title": str(question or title), "answer": str(meta.get("answer") or text)}
    heading = meta.get("heading")
    return {"title": f"{title} › {heading}" if heading else title, "answer": _snippet(text)}


async def _cited(session: Any, messages: list[Message]) -> dict[int, dict[str, Any]]:
    chunk_ids = {
        c["chunk_id"]
        for m in messages
        for c in m.citations or []
        if isinstance(c, dict) and isinstance(c.get("chunk_id"), int)
    }
    if not chunk_ids:
        return {}
    rows = await session.execute(
        select(Chunk.id, Chunk.meta, Chunk.text, Chunk.source_ref, Document.title)
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.id.in_(chunk_ids))
    )
    return {r.id: {"source_ref": r.source_ref, **_source(r.meta or {}, r.text, r.title)} for r in rows}


def _message(m: Message, cited: dict[int, dict[str, Any]]) -> dict[str, Any]:
    sources = [cited[c["chunk_id"]] for c in m.citations or [] if isinstance(c, dict) and c.get("chunk_id") in cited]
    return {
        "id": str(m.id),
        "role": m.role,
        "text": m.text,
        "created_at": m.created_at.isoformat(),
        "confidence": m.confidence,
        "sources": sources,
        "handoff": m.handoff,
        "agent_name": m.agent_name,
        "answered": m.answered,
    }


def assist_entries(hits: list[Hit]) -> list[dict[str, Any]]:
    return [
        {
            "chunk_id": h.chunk_id,
            "source_ref": h.source_ref,
            "score": round(h.score, 3),
            **_source(h.metadata, h.text, str(h.metadata.get("title") or "")),
        }
        for h in hits
    ]


async def conversation_detail(tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> dict[str, Any]:
    """The conversation as the inbox shows it; NotFound when it is not this tenant's."""
    async with tenant_session(tenant_id) as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound(f"No conversation {conversation_id} in this tenant.")
        messages = list(
            (
                await session.scalars(
                    select(Message)
                    .where(Message.conversation_id == conversation_id)
                    .order_by(Message.created_at, Message.role.desc())
                )
            ).all()
        )
        cited = await _cited(session, messages)
        state = await inbox_state(session, conversation)
        assignee = (
            await session.scalar(
                select(func.coalesce(User.display_name, User.email)).where(User.id == conversation.assignee_id)
            )
            if conversation.assignee_id
            else None
        )
    last_question = next((m.text for m in reversed(messages) if m.role == "customer"), None)
    hits = await retrieve(tenant_id, last_question, ASSIST_HITS) if last_question else []
    return {
        "conversation_id": str(conversation_id),
        "status": conversation.inbox_status,
        "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None,
        "assignee_name": assignee,
        "reason": conversation.handoff_reason,
        "language": conversation.language,
        "visitor_id": conversation.visitor_id,
        "customer_name": conversation.user_name,
        "customer_email": conversation.user_email,
        "started_at": conversation.started_at.isoformat(),
        "handoff_at": conversation.handoff_at.isoformat() if conversation.handoff_at else None,
        "queue_position": state.position,
        "csat": conversation.csat,
        "messages": [_message(m, cited) for m in messages],
        "assist": {"question": last_question, "entries": assist_entries(hits)},
    }
