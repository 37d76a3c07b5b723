"""Hand-offs as the inbox leaves them, for the human-service figures (analytics and the admin app)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert, update

from core.models import Conversation, Message


def seed_handoff(session, tenant_id: uuid.UUID, at: datetime, *, agent=None,
                 resolve_after: timedelta | None = None) -> uuid.UUID:
    """A conversation handed off at `at`: waiting, or taken by `agent` (open), or resolved after `resolve_after`."""
    conversation_id = uuid.uuid4()
    session.execute(insert(Conversation).values(
        id=conversation_id, tenant_id=tenant_id, visitor_id=f"v-{conversation_id.hex[:6]}", started_at=at,
        last_message_at=at, handoff=True, handoff_reason="customer asked", handoff_at=at))
    # As the inbox does it: the hand-off's trigger puts it in the inbox, an agent takes it, then resolves it.
    session.execute(update(Conversation).where(Conversation.id == conversation_id).values(
        inbox_status="resolved" if resolve_after else "open" if agent else "waiting",
        assignee_id=agent.id if agent else None, assigned_at=at if agent else None,
        inbox_resolved_at=at + resolve_after if resolve_after else None))
    return conversation_id


def agent_message(session, tenant_id: uuid.UUID, conversation_id: uuid.UUID, at: datetime, text: str,
                  agent=None) -> None:
    """A message a person wrote in the conversation at `at`."""
    session.execute(insert(Message).values(id=uuid.uuid4(), tenant_id=tenant_id, conversation_id=conversation_id,
                                           role="agent", text=text, created_at=at,
                                           agent_id=agent.id if agent else None))
