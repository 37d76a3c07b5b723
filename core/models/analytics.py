"""What the analytics jobs store: daily rollups, satisfaction model runs and scores, knowledge-gap topics."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, TenantOwned, utcnow_column, uuid_pk
from core.models.chat import Message


class DailyRollup(Base):
    """One tenant-day of activity, kept current by the `refresh_rollups` actor.

    Message counts belong to the day a message was written, feedback to the day it was given,
    conversation outcomes (hand-off, resolution, CSAT, visitors) to the day the conversation started.
    """

    __tablename__ = "analytics_daily"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # a day of the tenant's time zone
    # The IANA zone `day` and `messages_by_hour` were computed in (the tenant's at the time).
    zone: Mapped[str] = mapped_column(Text, nullable=False, server_default="UTC")
    conversations: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    visitors: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    messages: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    customer_messages: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    replies: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    answered: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    fallbacks: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    handoffs: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    resolved: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    csat_sum: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    csat_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    thumbs_up: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    thumbs_down: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    est_cost_usd: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    # Messages per hour of the day in `zone` (24 counts): the peak-hours heatmap without rescanning messages.
    messages_by_hour: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False)
    refreshed_at: Mapped[datetime] = utcnow_column()


class ModelRun(TenantOwned, Base):
    """One trained (or default) satisfaction model of a tenant, with its own quality figures."""

    __tablename__ = "model_runs"
    __table_args__ = (Index("ix_model_runs_tenant_kind_created", "tenant_id", "kind", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(40), nullable=False, default="satisfaction")
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # 'default' | 'trained'
    n_labels: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    cv_auc: Mapped[float | None] = mapped_column(Float)
    drivers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    model: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = utcnow_column()


class ConversationScore(TenantOwned, Base):
    """The latest predicted satisfaction (probability satisfied) of one conversation."""

    __tablename__ = "conversation_scores"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    predicted_satisfaction: Mapped[float] = mapped_column(Float, nullable=False)
    model_run_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("model_runs.id", ondelete="SET NULL")
    )
    scored_at: Mapped[datetime] = utcnow_column()


class KnowledgeGapTopic(TenantOwned, Base):
    """A cluster of unanswered or low-rated customer questions; a batch shares `clustered_at`."""

    __tablename__ = "knowledge_gap_topics"
    __table_args__ = (Index("ix_knowledge_gap_topics_tenant_clustered", "tenant_id", "clustered_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    clustered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    rank: Mapped[int] = mapped_column(Integer, nullable=False)
    label: Mapped[str] = mapped_column(Text, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    examples: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")


class KnowledgeGapQuestion(TenantOwned, Base):
    """A question that belongs to a topic, so a topic can be counted within any period."""

    __tablename__ = "knowledge_gap_questions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    topic_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("knowledge_gap_topics.id", ondelete="CASCADE"), nullable=False, index=True
    )
    message_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False
    )
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)


# Bot replies of a tenant by time, carrying latency and outcome: latency percentiles and answer
# rates for a period become an index-only scan instead of a pass over every message.
Index(
    "ix_messages_tenant_replies",
    Message.tenant_id,
    Message.created_at,
    postgresql_where=text("role = 'assistant'"),
    postgresql_include=["latency_ms", "answered"],
)
