"""The agent inbox: conversations waiting for a person, taking one, replying, resolving, handing back.

States of `conversations.inbox_status`: None (the bot answers) → `waiting` (a hand-off; set by the
trigger of migration 0019) → `open` (an agent assigned it to themselves; the bot is silent) →
`resolved`, or back to None (released: the bot answers again). Every change is one conditional
UPDATE, so two agents taking a conversation at once cannot both win. After each commit the change
is published on the tenant's inbox channel (every agent's page) and, where the customer should
see it, on the conversation's channel (the widget's socket, on whichever API process holds it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from chat import events, notifications
from chat.handoff import announce_queue, now_ms, on_event
from core.db import tenant_session
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Conversation, Handoff, Message, User
from core.tenancy import Principal
from knowledge.entries import entry_hit

MAX_REPLY_CHARS = 4000
MAX_CLIENT_REF = 100
LISTED = ("waiting", "open", "resolved")


@dataclass(frozen=True)
class Agent:
    """The person (or integration) acting in the inbox."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID | None  # None: an API key (it can reply and resolve, not hold a conversation)
    name: str


async def agent_of(principal: Principal) -> Agent:
    if principal.user_id is None:
        return Agent(principal.tenant_id, None, "Support")
    async with tenant_session(principal.tenant_id) as session:
        user = await session.get(User, principal.user_id)
    if user is None:
        raise NotFound("Your user no longer exists; log in again.")
    return Agent(principal.tenant_id, user.id, user.display_name or user.email.split("@", 1)[0])


def _name_of_user() -> Any:
    return func.coalesce(User.display_name, func.split_part(User.email, "@", 1))


async def list_inbox(
    tenant_id: uuid.UUID, status: str, *, assignee_id: uuid.UUID | None = None, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    """Conversations by inbox status: waiting oldest first, open and resolved most recent first."""
    if status not in LISTED:
        raise ValidationFailed(f"status must be one of {', '.join(LISTED)}.")
    if isinstance(limit, bool) or not 1 <= limit <= 200 or offset < 0:
        raise ValidationFailed("limit must be 1-200 and offset 0 or more.")
    where = [Conversation.inbox_status == status]
    if assignee_id is not None:
        where.append(Conversation.assignee_id == assignee_id)
    order = {
        "waiting": Conversation.handoff_at.asc(),
        "open": Conversation.last_message_at.desc(),
        "resolved": Conversation.inbox_resolved_at.desc(),
    }[status]
    last_bot = (
        select(Message.text)
        .where(Message.conversation_id == Conversation.id, Message.role == "assistant")
        .order_by(Message.created_at.desc())
        .limit(1)
        .correlate(Conversation)
        .scalar_subquery()
    )
    last_customer = (
        select(Message.text)
        .where(Message.conversation_id == Conversation.id, Message.role == "customer")
        .order_by(Message.created_at.desc())
        .limit(1)
        .correlate(Conversation)
        .scalar_subquery()
    )
    now = datetime.now(UTC)
    async with tenant_session(tenant_id) as session:
        total = await session.scalar(select(func.count()).select_from(Conversation).where(*where))
        rows = (
            await session.execute(
                select(
                    Conversation,
                    _name_of_user().label("assignee_name"),
                    last_bot.label("last_bot_answer"),
                    last_customer.label("last_customer_message"),
                )
                .outerjoin(User, User.id == Conversation.assignee_id)
                .where(*where)
                .order_by(order)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    items = [
        {
            "conversation_id": str(c.id),
            "status": c.inbox_status,
            "assignee_id": str(c.assignee_id) if c.assignee_id else None,
            "assignee_name": assignee_name,
            "reason": c.handoff_reason,
            "language": c.language,
            "customer_name": c.user_name,
            "waiting_seconds": int(
                (
                    (c.assigned_at if c.inbox_status != "waiting" and c.assigned_at else now) - c.handoff_at
                ).total_seconds()
            )
            if c.handoff_at
            else 0,
            "handoff_at": c.handoff_at.isoformat() if c.handoff_at else None,
            "last_message_at": c.last_message_at.isoformat(),
            "last_bot_answer": bot,
            "last_customer_message": customer,
            "message_count": c.message_count,
        }
        for c, assignee_name, bot, customer in rows
    ]
    return {"items": items, "total": int(total or 0)}


async def _refuse(session: Any, conversation_id: uuid.UUID, agent: Agent, doing: str) -> Conflict | NotFound:
    """Why a conditional update changed nothing: the conversation is not this tenant's, or its state."""
    row = (
        await session.execute(
            select(Conversation.inbox_status, _name_of_user().label("holder"), Conversation.assignee_id)
            .outerjoin(User, User.id == Conversation.assignee_id)
            .where(Conversation.id == conversation_id)
        )
    ).first()
    if row is None:
        return NotFound(f"No conversation {conversation_id} in this tenant.")
    if row.inbox_status == "open" and row.assignee_id != agent.user_id:
        return Conflict(f"{row.holder} has already taken this conversation; you cannot {doing} it.")
    if row.inbox_status == "resolved":
        return Conflict(f"This conversation is resolved; assign it to yourself to reopen it before you {doing} it.")
    if row.inbox_status is None:
        return Conflict(f"The bot is handling this conversation; assign it to yourself before you {doing} it.")
    return Conflict(f"You cannot {doing} this conversation now (it is {row.inbox_status}).")


async def assign(agent: Agent, conversation_id: uuid.UUID) -> dict[str, Any]:
    """Take the conversation: the bot falls silent; 409 if another agent holds it."""
    async with tenant_session(agent.tenant_id) as session:
        if agent.user_id is None:
            if await session.get(Conversation, conversation_id) is None:
                raise NotFound(f"No conversation {conversation_id} in this tenant.")
            raise ValidationFailed(
                "An API key cannot hold a conversation: log in as a person "
                "(POST /api/v1/auth/login) to assign it to yourself."
            )
        now = datetime.now(UTC)
        taken = await session.scalar(
            update(Conversation)
            .where(
                Conversation.id == conversation_id,
                or_(Conversation.inbox_status.is_distinct_from("open"), Conversation.assignee_id == agent.user_id),
            )
            .values(inbox_status="open", assignee_id=agent.user_id, assigned_at=now, inbox_resolved_at=None)
            .returning(Conversation.id)
        )
        if taken is None:
            raise await _refuse(session, conversation_id, agent, "take")
    await _announce_taken(agent, conversation_id)
    return {
        "conversation_id": str(conversation_id),
        "status": "open",
        "assignee_id": str(agent.user_id),
        "agent_name": agent.name,
    }


async def _announce_taken(agent: Agent, conversation_id: uuid.UUID) -> None:
    await events.publish(conversation_id, {"type": "agent_joined", "agent_name": agent.name})
    await events.publish_to(
        events.inbox_channel(agent.tenant_id),
        {
            "type": "assigned",
            "conversation_id": str(conversation_id),
            "assignee_id": str(agent.user_id) if agent.user_id else None,
            "agent_name": agent.name,
            "sent_at": now_ms(),
        },
    )
    await announce_queue(agent.tenant_id)


def _check_reply(text: str, client_ref: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("text must not be empty.")
    if len(text) > MAX_REPLY_CHARS:
        raise ValidationFailed(f"text is too long ({len(text)} characters; the limit is {MAX_REPLY_CHARS}).")
    if client_ref is not None and not 1 <= len(client_ref) <= MAX_CLIENT_REF:
        raise ValidationFailed(f"client_ref must be 1-{MAX_CLIENT_REF} characters.")
    return text


async def _used_entry(tenant_id: uuid.UUID, source_ref: str) -> dict[str, str]:
    """The note kept on an agent's reply about the entry it used; ValidationFailed when unknown."""
    hit = await entry_hit(tenant_id, source_ref) if isinstance(source_ref, str) and 0 < len(source_ref) <= 512 else None
    if hit is None:
        raise ValidationFailed(f"used_entry.source_ref {source_ref!r} is not an entry of this knowledge base; "
                               "send one from agent assist.")
    return {"source_ref": source_ref, "question": str(hit.metadata.get("question") or "")}


async def reply(
    agent: Agent, conversation_id: uuid.UUID, text: str, client_ref: str | None = None, used_entry: str | None = None
) -> tuple[uuid.UUID, bool]:
    """Store an agent's reply and push it to the customer; returns (message id, newly stored).

    Replying to a waiting conversation takes it. A reply re-sent with the same `client_ref` (the
    agent's page retrying after a dropped connection) returns the first one's id and is not sent twice.
    `used_entry`: the source_ref of the knowledge entry the agent inserted from agent assist; kept on
    the reply as `agent_used_entry` so the customer's wording can be suggested as a similar question
    for that row (`knowledge.phrasing_suggestions`). 422 when it is not an entry of the tenant.
    """
    text = _check_reply(text, client_ref)
    meta = {"agent_used_entry": await _used_entry(agent.tenant_id, used_entry)} if used_entry is not None else {}
    now = datetime.now(UTC)
    message_id = uuid.uuid4()
    try:
        async with tenant_session(agent.tenant_id) as session:
            if client_ref is not None:
                earlier = await session.scalar(
                    select(Message.id).where(
                        Message.conversation_id == conversation_id, Message.client_ref == client_ref
                    )
                )
                if earlier is not None:
                    return earlier, False
            held = await session.scalar(
                update(Conversation)
                .where(Conversation.id == conversation_id, _holdable(agent))
                .values(
                    inbox_status="open",
                    message_count=Conversation.message_count + 1,
                    last_message_at=now,
                    assignee_id=func.coalesce(Conversation.assignee_id, agent.user_id),
                    assigned_at=func.coalesce(Conversation.assigned_at, now),
                )
                .returning(Conversation.assigned_at)
            )
            if held is None:
                raise await _refuse(session, conversation_id, agent, "reply to")
            taken = held == now
            await session.execute(
                insert(Message).values(
                    id=message_id,
                    tenant_id=agent.tenant_id,
                    conversation_id=conversation_id,
                    role="agent",
                    status="answered",
                    text=text,
                    agent_id=agent.user_id,
                    agent_name=agent.name,
                    client_ref=client_ref,
                    created_at=now,
                    meta=meta,
                )
            )
    except IntegrityError:  # the same client_ref raced itself: the first one is stored
        async with tenant_session(agent.tenant_id) as session:
            earlier = await session.scalar(
                select(Message.id).where(Message.conversation_id == conversation_id, Message.client_ref == client_ref)
            )
        if earlier is None:
            raise
        return earlier, False
    if taken:
        await _announce_taken(agent, conversation_id)
    frame = {
        "type": "agent_message",
        "text": text,
        "agent_name": agent.name,
        "message_id": str(message_id),
        "conversation_id": str(conversation_id),
        "created_at": now.isoformat(),
        "sent_at": now_ms(),
    }
    await events.publish(conversation_id, frame)
    await events.publish_to(
        events.inbox_channel(agent.tenant_id), {**frame, "agent_id": str(agent.user_id) if agent.user_id else None}
    )
    # A customer who left an address and has no widget open gets the reply by email (once per message).
    await notifications.email_agent_reply(agent.tenant_id, message_id, agent.name)
    return message_id, True


def _holdable(agent: Agent) -> Any:
    """Conversations `agent` may act on: waiting or open, and not held by someone else (an API key,
    acting for the whole team, may act on any)."""
    held = Conversation.inbox_status.in_(("waiting", "open"))
    if agent.user_id is None:
        return held
    return held & (Conversation.assignee_id.is_(None) | (Conversation.assignee_id == agent.user_id))


async def _close(agent: Agent, conversation_id: uuid.UUID, *, resolve: bool) -> dict[str, Any]:
    now = datetime.now(UTC)
    values: dict[str, Any] = (
        {"inbox_status": "resolved", "inbox_resolved_at": now, "resolved": True}
        if resolve
        else {"inbox_status": None, "assignee_id": None, "assigned_at": None}
    )
    async with tenant_session(agent.tenant_id) as session:
        done = await session.scalar(
            update(Conversation)
            .where(Conversation.id == conversation_id, _holdable(agent))
            .values(**values)
            .returning(Conversation.id)
        )
        if done is None:
            raise await _refuse(session, conversation_id, agent, "resolve" if resolve else "hand back")
        await session.execute(
            update(Handoff)
            .where(Handoff.conversation_id == conversation_id, Handoff.status == "open")
            .values(status="resolved" if resolve else "released")
        )
    kind = "resolved" if resolve else "released"
    await events.publish(conversation_id, {"type": "back_to_bot", "reason": kind, "agent_name": agent.name})
    payload = {"type": kind, "conversation_id": str(conversation_id), "agent_name": agent.name, "sent_at": now_ms()}
    await events.publish_to(events.inbox_channel(agent.tenant_id), payload)
    await announce_queue(agent.tenant_id)
    if resolve:
        await on_event("conversation.resolved", agent.tenant_id, {**payload, "resolved_by": agent.name})
    return {"conversation_id": str(conversation_id), "status": "resolved" if resolve else None}


async def resolve(agent: Agent, conversation_id: uuid.UUID) -> dict[str, Any]:
    """The customer's question is dealt with: the conversation leaves the inbox; the bot answers again."""
    return await _close(agent, conversation_id, resolve=True)


async def release(agent: Agent, conversation_id: uuid.UUID) -> dict[str, Any]:
    """Hand the conversation back to the bot without resolving it."""
    return await _close(agent, conversation_id, resolve=False)
