"""What a visitor can do with their conversation: read it, rate answers, give CSAT, ask for a human.

Every function checks that the conversation belongs to the tenant (RLS) *and* to the asker: its
verified user (from any device) when it has one, else its visitor (chat.identity.Asker).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from chat import handoff, notifications
from chat.customer_text import clean_customer_text
from chat.identity import Asker
from core.db import tenant_session
from core.errors import NotFound, ValidationFailed
from core.models import Conversation, Feedback, Handoff, Message

VISITOR_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def new_visitor_id() -> str:
    return f"v_{uuid.uuid4().hex}"


def check_visitor_id(visitor_id: str | None) -> str:
    if visitor_id is None or not VISITOR_ID.match(visitor_id):
        raise ValidationFailed("visitor_id must be 1-100 letters, digits, '_', '-', '.' or ':'.")
    return visitor_id


def message_out(m: Message) -> dict[str, Any]:
    return {"id": str(m.id), "role": m.role, "text": m.text, "status": m.status, "citations": m.citations,
            "confidence": m.confidence, "handoff": m.handoff, "reply_to": str(m.reply_to) if m.reply_to else None,
            "created_at": m.created_at.isoformat(), **({"agent_name": m.agent_name} if m.role == "agent" else {}),
            # A spoken question says so (the widget marks it); where its recording is kept is not shown.
            **({"voice": True} if m.role == "customer" and (m.meta or {}).get("voice") else {})}


def _asker(asker: Asker | str) -> Asker:
    return Asker(asker) if isinstance(asker, str) else asker


async def owned_conversation(session: Any, conversation_id: uuid.UUID, asker: Asker | str) -> Conversation:
    """The conversation, if it is the asker's (404 otherwise, as for one that does not exist)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or not _asker(asker).owns(conversation.visitor_id, conversation.user_id):
        raise NotFound("No such conversation for this visitor.")
    return conversation


_conversation = owned_conversation


async def _owned_message(session: Any, message_id: uuid.UUID, asker: Asker | str) -> Message:
    """The message if it is in the asker's conversation; another visitor's reads as absent (no ids leak)."""
    message = await session.get(Message, message_id)
    if message is None or not await _owns(session, message.conversation_id, asker):
        raise NotFound(f"No message {message_id} for this visitor.")
    return message


async def _owns(session: Any, conversation_id: uuid.UUID, asker: Asker | str) -> bool:
    conversation = await session.get(Conversation, conversation_id)
    return conversation is not None and _asker(asker).owns(conversation.visitor_id, conversation.user_id)


MAX_LISTED = 50


async def user_conversations(tenant_id: uuid.UUID, asker: Asker, limit: int = 20) -> dict[str, Any]:
    """A verified user's conversations, newest first (the widget on another device resumes the latest)."""
    if asker.user is None:
        raise ValidationFailed("Listing conversations needs a signed-in user: send X-Kefu-User-Id and "
                               "X-Kefu-User-Hash (docs/widget.md).")
    if isinstance(limit, bool) or not 1 <= limit <= MAX_LISTED:
        raise ValidationFailed(f"limit must be from 1 to {MAX_LISTED}.")
    async with tenant_session(tenant_id) as session:
        rows = (await session.scalars(select(Conversation).where(Conversation.user_id == asker.user.id)
                                      .order_by(Conversation.last_message_at.desc()).limit(limit))).all()
        return {"conversations": [{"id": str(c.id), "started_at": c.started_at.isoformat(),
                                   "last_message_at": c.last_message_at.isoformat(),
                                   "message_count": c.message_count, "handoff": c.handoff, "csat": c.csat}
                                  for c in rows]}


async def history(tenant_id: uuid.UUID, conversation_id: uuid.UUID, asker: Asker | str) -> dict[str, Any]:
    async with tenant_session(tenant_id) as session:
        conversation = await _conversation(session, conversation_id, asker)
        rows = (await session.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                      .order_by(Message.created_at, Message.role.desc()))).all()
        state = await handoff.inbox_state(session, conversation)
        return {"conversation_id": str(conversation_id), "handoff": conversation.handoff, "csat": conversation.csat,
                "inbox": state.public(), "messages": [message_out(m) for m in rows]}


async def inbox_status(tenant_id: uuid.UUID, conversation_id: uuid.UUID, asker: Asker | str) -> dict[str, Any]:
    """The asker's conversation's hand-off state: with the bot, waiting (place in the queue), with an agent."""
    async with tenant_session(tenant_id) as session:
        conversation = await _conversation(session, conversation_id, asker)
        return (await handoff.inbox_state(session, conversation)).public()


async def message_status(tenant_id: uuid.UUID, message_id: uuid.UUID, asker: Asker | str) -> dict[str, Any]:
    """A message and, for a customer message, its answer (the polling side of the queued path)."""
    async with tenant_session(tenant_id) as session:
        message = await _owned_message(session, message_id, asker)
        out = message_out(message)
        if message.role == "customer":
            reply = await session.scalar(select(Message).where(Message.reply_to == message_id))
            out["reply"] = message_out(reply) if reply else None
        return out


async def rate_message(tenant_id: uuid.UUID, message_id: uuid.UUID, asker: Asker | str, rating: int,
                       comment: str | None) -> None:
    if rating not in (1, -1):
        raise ValidationFailed("rating must be 1 (helpful) or -1 (not helpful).")
    comment = clean_customer_text(comment) if comment is not None else None
    if comment is not None and len(comment) > 2000:
        raise ValidationFailed("comment must be at most 2000 characters.")
    async with tenant_session(tenant_id) as session:
        message = await _owned_message(session, message_id, asker)
        if message.role != "assistant":
            raise ValidationFailed("Only the assistant's answers can be rated.")
        await session.execute(
            insert(Feedback).values(id=uuid.uuid4(), tenant_id=tenant_id, message_id=message_id,
                                    conversation_id=message.conversation_id, rating=rating, comment=comment)
            .on_conflict_do_update(index_elements=["message_id"],
                                   set_={"rating": rating, "comment": comment, "created_at": datetime.now(UTC)}))


async def rate_conversation(tenant_id: uuid.UUID, conversation_id: uuid.UUID, asker: Asker | str, score: int) -> None:
    if isinstance(score, bool) or score not in (1, 2, 3, 4, 5):
        raise ValidationFailed("score must be a whole number from 1 to 5.")
    async with tenant_session(tenant_id) as session:
        conversation = await _conversation(session, conversation_id, asker)
        conversation.csat = score
        conversation.ended_at = conversation.ended_at or datetime.now(UTC)
    await notifications.emit(tenant_id, "csat.submitted", {"conversation_id": str(conversation_id), "score": score})


async def request_human(tenant_id: uuid.UUID, conversation_id: uuid.UUID, asker: Asker | str,
                        reason: str | None) -> handoff.InboxState:
    """Ask for a person: the conversation waits in the agent inbox (unless one already holds it) and
    the tenant is told (webhooks, staff emails)."""
    reason = (clean_customer_text(reason or "").strip() or "customer asked for a person")[:500]
    async with tenant_session(tenant_id) as session:
        conversation = await _conversation(session, conversation_id, asker)
        if conversation.inbox_status in handoff.HELD:
            return await handoff.inbox_state(session, conversation)  # asked twice: nothing new to tell anyone
        now = datetime.now(UTC)
        conversation.handoff, conversation.handoff_reason, conversation.handoff_at = True, reason, now
        session.add(Handoff(tenant_id=tenant_id, conversation_id=conversation_id, reason=reason, source="customer"))
        language = conversation.language
        question = await session.scalar(select(Message.text).where(
            Message.conversation_id == conversation_id, Message.role == "customer")
            .order_by(Message.created_at.desc()).limit(1))
    state = await handoff.announce_handoff(tenant_id, conversation_id, reason, "customer")
    await notifications.emit(tenant_id, "handoff.requested", {
        "conversation_id": str(conversation_id), "reason": reason, "source": "customer", "language": language,
        "question": question, "handoff_at": now.isoformat()})
    return state
