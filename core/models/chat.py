"""Conversations with customers: messages, feedback, hand-offs, and per-day usage."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, TenantOwned, utcnow_column, uuid_pk

MESSAGE_ROLES = ("customer", "assistant", "agent")
# human: a customer message written while a person holds the conversation (no bot answer awaited).
MESSAGE_STATUSES = ("pending", "answered", "failed", "human")
INBOX_STATUSES = ("waiting", "open", "resolved")


class Conversation(TenantOwned, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint("csat IS NULL OR csat BETWEEN 1 AND 5", name="csat"),
        Index("ix_conversations_tenant_started", "tenant_id", "started_at"),
        Index("ix_conversations_tenant_user", "tenant_id", "user_id", postgresql_where=text("user_id IS NOT NULL")),
        Index("ix_conversations_tenant_visitor", "tenant_id", "visitor_id"),
        CheckConstraint("inbox_status IN ('waiting', 'open', 'resolved')", name="inbox_status"),
        Index("ix_conversations_tenant_inbox", "tenant_id", "inbox_status", "handoff_at",
              postgresql_where=text("inbox_status IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    visitor_id: Mapped[str] = mapped_column(String(100), nullable=False)
    channel: Mapped[str] = mapped_column(String(20), nullable=False, default="widget")
    language: Mapped[str | None] = mapped_column(String(10))
    started_at: Mapped[datetime] = utcnow_column()
    last_message_at: Mapped[datetime] = utcnow_column()
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    handoff: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    handoff_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # The verified user (the tenant's own user id, signed with its identity secret; chat.identity).
    # A conversation with a user is readable and continued only by that user, from any device.
    user_id: Mapped[str | None] = mapped_column(String(200))
    user_name: Mapped[str | None] = mapped_column(String(200))
    user_email: Mapped[str | None] = mapped_column(String(320))
    # How the customer asked to be reached when no one could answer (chat.contact); agent replies
    # are emailed to contact_email while the customer is away.
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The agent inbox (chat.inbox): None while the bot answers; waiting for a person, open (a
    # person holds it, the bot is silent), resolved. A trigger sets `waiting` with `handoff_at`.
    inbox_status: Mapped[str | None] = mapped_column(String(20))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    inbox_resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(TenantOwned, Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'assistant', 'agent')", name="role"),
        CheckConstraint("status IN ('pending', 'answered', 'failed', 'human')", name="status"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_tenant_created", "tenant_id", "created_at"),
        # Lost-job recovery scans queued questions across tenants (backend/recovery.py).
        Index("ix_messages_pending", "created_at", postgresql_where=text("status = 'pending'")),
        Index("uq_messages_conversation_client_ref", "conversation_id", "client_ref", unique=True,
              postgresql_where=text("client_ref IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    # For an assistant message: the customer message it answers (unique, so a redelivered queued
    # job can never store a second answer).
    reply_to: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="answered")
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    language: Mapped[str | None] = mapped_column(String(10))
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list,
                                                            server_default="[]")
    confidence: Mapped[float | None] = mapped_column(Float)
    # answered = the bot gave a grounded answer (not "I don't know", not an error fallback)
    answered: Mapped[bool | None] = mapped_column(Boolean)
    handoff: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    fallback_reason: Mapped[str | None] = mapped_column(String(40))
    tool_calls: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list,
                                                             server_default="[]")
    provider: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(200))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    # What else is known about the message; a customer message sent by choosing a "did you mean"
    # suggestion carries {"suggestion_chosen": {"source_ref", "question"}} (chat.engine).
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict,
                                                 server_default="{}")
    created_at: Mapped[datetime] = utcnow_column()
    # An agent's reply: who wrote it, under which name, and the id the agent's page gave it (a
    # re-sent reply with the same `client_ref` is stored once).
    agent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    agent_name: Mapped[str | None] = mapped_column(String(200))
    client_ref: Mapped[str | None] = mapped_column(String(100))


class CannedResponse(TenantOwned, Base):
    """A reply an agent inserts by its shortcut (per tenant)."""

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("tenant_id", "shortcut", name="uq_canned_responses_tenant_shortcut"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    shortcut: Mapped[str] = mapped_column(String(40), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = utcnow_column()


class Feedback(TenantOwned, Base):
    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("rating IN (-1, 1)", name="rating"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    message_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    rating: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = utcnow_column()


class Handoff(TenantOwned, Base):
    __tablename__ = "handoffs"

    id: Mapped[uuid.UUID] = uuid_pk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False, default="customer")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open", server_default="open")
    created_at: Mapped[datetime] = utcnow_column()


class UsageDaily(Base):
    """Requests and tokens per tenant per day (quota checks and cost reports)."""

    __tablename__ = "usage_daily"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
