"""The customer's side of a hand-off: who holds the conversation, the customer's place in the queue,
customer messages while a person holds it, and the events other parts of Kefu listen to.

A conversation is in the agent inbox when `conversations.inbox_status` is `waiting` (a hand-off
nobody has taken yet) or `open` (an agent holds it). In both states the bot is silent: the
customer's messages are stored (status `human`) and pushed to the tenant's inbox channel, and
nothing is answered until an agent resolves the conversation or hands it back (chat.inbox).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from chat import events, notifications, presence
from chat.identity import Asker
from core.db import tenant_session
from core.errors import NotFound
from core.identity import VerifiedUser
from core.models import Conversation, Message, User

HELD = ("waiting", "open")  # a person holds or is about to hold the conversation: the bot is silent


async def on_event(event: str, tenant_id: uuid.UUID, payload: dict[str, Any]) -> None:
    """The inbox's events leave here: `message.created` (a customer message in a conversation a
    person holds or awaits) and `conversation.resolved`, to the tenant's webhooks
    (`chat.notifications.emit` never raises: chat never fails because a receiver did).
    `handoff.requested` is emitted where the hand-off is stored (chat.engine, chat.conversations).
    """
    data = {k: v for k, v in payload.items() if k not in ("type", "sent_at")}
    await notifications.emit(tenant_id, event, data)


@dataclass(frozen=True)
class InboxState:
    """What the widget shows: with the bot (None), waiting (and the place in the queue), or with an agent."""

    status: str | None
    position: int | None = None
    agent_name: str | None = None

    def public(self) -> dict[str, Any]:
        return {"status": self.status, "position": self.position, "agent_name": self.agent_name}


@dataclass(frozen=True)
class HeldMessage:
    """A customer message stored for the person holding the conversation (no bot answer)."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    state: InboxState

    def public(self, visitor_id: str) -> dict[str, Any]:
        return {
            "conversation_id": str(self.conversation_id),
            "message_id": str(self.message_id),
            "status": "with_agent",
            "inbox": self.state.public(),
            "visitor_id": visitor_id,
        }


def now_ms() -> int:
    """The time events carry (`sent_at`), so a listener can tell how long a push took."""
    return int(time.time() * 1000)


async def _position(session: Any, handoff_at: datetime | None) -> int:
    """1 + the number of conversations of the tenant waiting since before `handoff_at`."""
    if handoff_at is None:
        return 1
    earlier = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.inbox_status == "waiting", Conversation.handoff_at < handoff_at)
    )
    return int(earlier or 0) + 1


async def _state_of(session: Any, conversation: Any) -> InboxState:
    if conversation.inbox_status == "waiting":
        return InboxState("waiting", await _position(session, conversation.handoff_at))
    if conversation.inbox_status == "open":
        name = (
            await session.scalar(
                select(func.coalesce(User.display_name, func.split_part(User.email, "@", 1))).where(
                    User.id == conversation.assignee_id
                )
            )
            if conversation.assignee_id
            else None
        )
        return InboxState("open", agent_name=name)
    return InboxState(conversation.inbox_status)


async def inbox_state(session: Any, conversation: Conversation) -> InboxState:
    """The conversation's hand-off state as the customer sees it (read in the caller's tenant session)."""
    return await _state_of(session, conversation)


_HOLD_COLUMNS = (
    Conversation.visitor_id,
    Conversation.user_id,
    Conversation.inbox_status,
    Conversation.handoff_at,
    Conversation.assignee_id,
)


async def hold_for_human(
    tenant_id: uuid.UUID, text: str, *, visitor_id: str, conversation_id: uuid.UUID, user: VerifiedUser | None
) -> HeldMessage | None:
    """If a person holds (or is about to hold) the conversation, store the customer's message for
    them and push it to the tenant's inbox; None when the bot should answer as usual.

    `text` is already validated. NotFound when the conversation is not this asker's.
    """
    asker = Asker(visitor_id, user)
    now = datetime.now(UTC)
    async with tenant_session(tenant_id) as session:
        row = (await session.execute(select(*_HOLD_COLUMNS).where(Conversation.id == conversation_id))).first()
        if row is None or not asker.owns(row.visitor_id, row.user_id):
            raise NotFound(f"No conversation {conversation_id} for this visitor.")
        if row.inbox_status not in HELD:
            return None
        row = (
            await session.execute(select(*_HOLD_COLUMNS).where(Conversation.id == conversation_id).with_for_update())
        ).first()
        if row.inbox_status not in HELD:  # released meanwhile: the bot answers after all
            return None
        message_id = uuid.uuid4()
        await session.execute(
            insert(Message).values(
                id=message_id,
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                role="customer",
                status="human",
                text=text,
                created_at=now,
            )
        )
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(message_count=Conversation.message_count + 1, last_message_at=now, ended_at=None)
        )
        state = await _state_of(session, row)
    payload = {
        "type": "customer_message",
        "conversation_id": str(conversation_id),
        "message_id": str(message_id),
        "text": text,
        "created_at": now.isoformat(),
        "sent_at": now_ms(),
    }
    await events.publish_to(events.inbox_channel(tenant_id), payload)
    await on_event("message.created", tenant_id, payload)
    return HeldMessage(conversation_id, message_id, state)


async def announce_handoff(
    tenant_id: uuid.UUID, conversation_id: uuid.UUID, reason: str | None, source: str
) -> InboxState:
    """A hand-off was stored (the trigger of migration 0019 put the conversation in the inbox):
    tell the tenant's agents and the customer's socket (their place in the queue)."""
    async with tenant_session(tenant_id) as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound(f"No conversation {conversation_id}.")
        state = await _state_of(session, conversation)
        language = conversation.language
    payload = {
        "type": "handoff",
        "conversation_id": str(conversation_id),
        "reason": reason,
        "source": source,
        "language": language,
        "status": state.status,
        "sent_at": now_ms(),
    }
    await events.publish_to(events.inbox_channel(tenant_id), payload)
    if state.status == "waiting":
        await events.publish(conversation_id, queue_frame(state.position or 1, await presence.availability(tenant_id)))
    return state


def queue_frame(position: int, available: dict[str, Any]) -> dict[str, Any]:
    """The customer's place in the queue and whether someone can answer soon (chat.presence.availability)."""
    return {"type": "queue", "position": position, "agent_online": available["agent_online"],
            "ask_contact": available["ask_contact"], "reason": available["reason"]}


async def announce_queue(tenant_id: uuid.UUID) -> None:
    """Tell every waiting customer their place in the queue and whether someone is there (after someone
    left the queue, or the first agent of the tenant came online, or the last one left)."""
    async with tenant_session(tenant_id) as session:
        waiting = (
            await session.scalars(
                select(Conversation.id).where(Conversation.inbox_status == "waiting").order_by(Conversation.handoff_at)
            )
        ).all()
    if not waiting:
        return
    available = await presence.availability(tenant_id)
    for place, conversation_id in enumerate(waiting, start=1):
        await events.publish(conversation_id, queue_frame(place, available))
