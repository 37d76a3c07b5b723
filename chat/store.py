"""Persistence of conversations and messages for the chat engine (one short transaction each).

Answers given while the customer waits (HTTP and WebSocket) are stored with their question in one
transaction at the end (`save_exchange`): a question is never stored without its answer, and each
message costs one transaction. Queued questions are stored first (`start_turn`, status `pending`)
so the worker can pick them up, and their answer joins them later (`save_reply`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import IntegrityError

from chat.identity import Asker
from chat.types import ChatResult
from core.db import autocommit_connection, tenant_connection, tenant_session
from core.errors import NotFound
from core.identity import VerifiedUser
from core.models import Conversation, Handoff, Message, UsageDaily


@dataclass(frozen=True)
class Turn:
    """A customer message accepted into a conversation, waiting for its answer."""

    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    visitor_id: str
    text: str
    is_first: bool
    # False: not stored yet (HTTP/WebSocket path); `save_exchange` stores question and answer together.
    stored: bool = True
    new_conversation: bool = False
    channel: str = "widget"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    user: VerifiedUser | None = None  # the verified user asking (chat.identity); None: anonymous
    suggestion: str | None = None  # the source_ref of a "did you mean" suggestion the customer chose


def unstored_turn(tenant_id: uuid.UUID, visitor_id: str, conversation_id: uuid.UUID | None, text: str, *,
                  is_first: bool, channel: str, user: VerifiedUser | None = None,
                  suggestion: str | None = None) -> Turn:
    """A question answered while the customer waits: ids now, rows with its answer (`save_exchange`)."""
    new = conversation_id is None
    return Turn(tenant_id, uuid.uuid4() if new else conversation_id, uuid.uuid4(), visitor_id, text,
                is_first or new, stored=False, new_conversation=new, channel=channel, user=user,
                suggestion=suggestion)


def _not_yours(conversation_id: uuid.UUID) -> NotFound:
    return NotFound("No such conversation for this visitor.")


async def conversation_owner(tenant_id: uuid.UUID, conversation_id: uuid.UUID, asker: Asker | str) -> int:
    """The conversation's message count; NotFound unless it is this tenant's and the asker's."""
    asker = Asker(asker) if isinstance(asker, str) else asker
    async with tenant_connection(tenant_id) as connection:
        row = (await connection.execute(
            select(_CONVERSATIONS.c.visitor_id, _CONVERSATIONS.c.user_id, _CONVERSATIONS.c.message_count)
            .where(_CONVERSATIONS.c.id == conversation_id))).first()
    if row is None or not asker.owns(row.visitor_id, row.user_id):
        raise _not_yours(conversation_id)
    return int(row.message_count)


def _user_columns(user: VerifiedUser | None) -> dict[str, str | None]:
    if user is None:
        return {}
    return {"user_id": user.id, **({"user_name": user.name} if user.name else {}),
            **({"user_email": user.email} if user.email else {})}


async def start_turn(tenant_id: uuid.UUID, visitor_id: str, conversation_id: uuid.UUID | None, text: str,
                     *, channel: str, status: str, user: VerifiedUser | None = None,
                     chosen: dict[str, str] | None = None) -> Turn:
    """Store the customer's message, creating the conversation if needed.

    `chosen`: the "did you mean" entry the message chose ({source_ref, question}), kept in the
    message's metadata as `suggestion_chosen` so the worker answers from it (`load_turn`).

    A signed-in user claims an anonymous conversation of their visitor id; a user's conversation
    takes messages only from that user.
    """
    now = datetime.now(UTC)
    message_id = uuid.uuid4()
    asker = Asker(visitor_id, user)
    # Core statements, not the ORM unit of work: this runs once per customer message.
    async with tenant_session(tenant_id) as session:
        if conversation_id is not None:
            row = (await session.execute(
                select(Conversation.visitor_id, Conversation.user_id, Conversation.message_count)
                .where(Conversation.id == conversation_id).with_for_update())).first()
            if row is None or not asker.owns(row.visitor_id, row.user_id):
                raise _not_yours(conversation_id)
            is_first = row.message_count == 0
            await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(
                message_count=Conversation.message_count + 1, last_message_at=now, ended_at=None,
                **_user_columns(user)))
        else:
            conversation_id = uuid.uuid4()
            await session.execute(insert(Conversation).values(
                id=conversation_id, tenant_id=tenant_id, visitor_id=visitor_id, channel=channel, started_at=now,
                last_message_at=now, message_count=1, **_user_columns(user)))
            is_first = True
        await session.execute(insert(Message).values(
            id=message_id, tenant_id=tenant_id, conversation_id=conversation_id, role="customer", status=status,
            text=text, created_at=now, **({"meta": {"suggestion_chosen": chosen}} if chosen else {})))
    return Turn(tenant_id, conversation_id, message_id, visitor_id, text, is_first, user=user,
                suggestion=chosen["source_ref"] if chosen else None)


async def load_turn(tenant_id: uuid.UUID, message_id: uuid.UUID) -> tuple[Turn, uuid.UUID | None]:
    """A stored customer message and the id of its answer, if it has one (queued path)."""
    async with tenant_session(tenant_id) as session:
        row = (await session.execute(
            select(Message, Conversation.visitor_id, Conversation.user_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id == message_id, Message.role == "customer"))).first()
        if row is None:
            raise NotFound(f"No customer message {message_id}.")
        message, visitor_id, user_id = row
        reply = await session.scalar(select(Message.id).where(Message.reply_to == message_id))
        earlier = await session.scalar(select(Message.id).where(
            Message.conversation_id == message.conversation_id, Message.created_at < message.created_at).limit(1))
    # Every message of a user's conversation came from that verified user (start_turn checks it).
    user = VerifiedUser(user_id) if user_id else None
    chosen = (message.meta or {}).get("suggestion_chosen")
    suggestion = str(chosen["source_ref"]) if isinstance(chosen, dict) and chosen.get("source_ref") else None
    return Turn(tenant_id, message.conversation_id, message.id, visitor_id, message.text, earlier is None,
                user=user, suggestion=suggestion), reply


async def save_reply(turn: Turn, result: ChatResult, *, provider: str, model: str | None, latency_ms: int,
                     prompt_tokens: int, completion_tokens: int) -> uuid.UUID:
    """Store the answer (once: a second save for the same question returns the first answer's id)."""
    reply_id = uuid.uuid4()
    now = datetime.now(UTC)
    try:
        async with tenant_session(turn.tenant_id) as session:
            await session.execute(insert(Message).values(
                id=reply_id, tenant_id=turn.tenant_id, conversation_id=turn.conversation_id, reply_to=turn.message_id,
                role="assistant", status="answered", text=result.answer, language=result.language,
                citations=[c.as_dict() for c in result.citations], confidence=result.confidence,
                answered=result.answered, handoff=result.handoff, fallback_reason=result.fallback_reason,
                tool_calls=[t.as_dict() for t in result.tool_calls], provider=provider, model=model,
                latency_ms=latency_ms, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                created_at=now))
            await session.execute(update(Message).where(Message.id == turn.message_id)
                                  .values(status="answered", language=result.language))
            values: dict[str, object] = {"message_count": Conversation.message_count + 1, "last_message_at": now,
                                         "language": result.language}
            if result.handoff:
                reason = handoff_reason(result)
                values.update(handoff=True, handoff_reason=reason, handoff_at=now)
                session.add(Handoff(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id, reason=reason,
                                    source="bot"))
            await session.execute(update(Conversation).where(Conversation.id == turn.conversation_id).values(**values))
            if prompt_tokens or completion_tokens:
                await session.execute(_usage_upsert(turn.tenant_id, now, prompt_tokens, completion_tokens))
    except IntegrityError:
        async with tenant_session(turn.tenant_id) as session:
            existing = await session.scalar(select(Message.id).where(Message.reply_to == turn.message_id))
        if existing is None:
            raise
        return existing
    return reply_id


_CONVERSATIONS = Conversation.__table__


def handoff_reason(result: ChatResult) -> str:
    return next((str(t.arguments.get("reason")) for t in result.tool_calls if t.name == "request_human"),
                "customer asked for a person")


_SAVE_EXCHANGE = text(
    "SELECT kefu_save_exchange(:tenant, :conversation, :new_conversation, :visitor, :channel, :question_id, "
    ":question, :asked_at, :reply_id, :answer, :answered_at, :language, :citations, :confidence, :answered, "
    ":handoff_reason, :fallback_reason, :tool_calls, :provider, :model, :latency_ms, :prompt_tokens, "
    ":completion_tokens, :user_id, :user_name, :user_email)"
).bindparams(bindparam("citations", type_=JSONB), bindparam("tool_calls", type_=JSONB))


async def save_exchange(turn: Turn, result: ChatResult, *, provider: str, model: str | None, latency_ms: int,
                        prompt_tokens: int, completion_tokens: int) -> uuid.UUID:
    """Store an unstored question and its answer (one statement, `kefu_save_exchange` of migration
    0010); returns the answer's id.

    A continued conversation is re-checked here (it is updated only if it is the verified user's, or
    the visitor's when it has no user), so an answer is never stored into, or returned from, someone
    else's conversation.
    """
    reply_id = uuid.uuid4()
    async with autocommit_connection() as connection:
        stored = await connection.scalar(_SAVE_EXCHANGE, {
            "tenant": turn.tenant_id, "conversation": turn.conversation_id,
            "new_conversation": turn.new_conversation, "visitor": turn.visitor_id, "channel": turn.channel,
            "question_id": turn.message_id, "question": turn.text, "asked_at": turn.created_at,
            "reply_id": reply_id, "answer": result.answer, "answered_at": datetime.now(UTC),
            "language": result.language, "citations": [c.as_dict() for c in result.citations],
            "confidence": result.confidence, "answered": result.answered,
            "handoff_reason": handoff_reason(result) if result.handoff else None,
            "fallback_reason": result.fallback_reason, "tool_calls": [t.as_dict() for t in result.tool_calls],
            "provider": provider, "model": model, "latency_ms": latency_ms, "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "user_id": turn.user.id if turn.user else None,
            "user_name": turn.user.name if turn.user else None, "user_email": turn.user.email if turn.user else None})
    if not stored:
        raise NotFound("No such conversation for this visitor.")
    return reply_id


def _usage_upsert(tenant_id: uuid.UUID, now: datetime, prompt_tokens: int, completion_tokens: int) -> Any:
    # Model usage per tenant-day. Answers that cost no tokens (local responder, cache) are counted
    # from `messages`; upserting this one row on every answer would serialise all of a tenant's
    # answers on its row lock.
    return (insert(UsageDaily).values(tenant_id=tenant_id, day=now.date(), requests=1, prompt_tokens=prompt_tokens,
                                      completion_tokens=completion_tokens)
            .on_conflict_do_update(index_elements=["tenant_id", "day"], set_={
                "requests": UsageDaily.requests + 1,
                "prompt_tokens": UsageDaily.prompt_tokens + prompt_tokens,
                "completion_tokens": UsageDaily.completion_tokens + completion_tokens}))


async def mark_failed(turn: Turn, error: str) -> None:
    async with tenant_session(turn.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == turn.message_id)
                              .values(status="failed", error=error[:2000]))


async def record_suggestion_chosen(turn: Turn, source_ref: str, question: str) -> None:
    """Note on the customer's message which "did you mean" entry they chose (read by analytics)."""
    chosen = {"suggestion_chosen": {"source_ref": source_ref, "question": question}}
    async with tenant_session(turn.tenant_id) as session:
        await session.execute(update(Message).where(Message.id == turn.message_id)
                              .values(meta=Message.meta.op("||")(bindparam("chosen", chosen, type_=JSONB))))


async def record_voice(tenant_id: uuid.UUID, message_id: uuid.UUID, voice: dict[str, Any]) -> None:
    """Note on a customer's message that it was spoken: where its recording is kept, its length and codec."""
    async with tenant_session(tenant_id) as session:
        await session.execute(update(Message).where(Message.id == message_id)
                              .values(meta=Message.meta.op("||")(bindparam("voice", {"voice": voice}, type_=JSONB))))
