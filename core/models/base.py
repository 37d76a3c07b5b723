"""Declarative base and column helpers shared by every model."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, MetaData, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


class TenantOwned:
    """Mixin for rows that belong to one tenant; row-level security keys on this column."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805 - SQLAlchemy declared_attr convention
        return mapped_column(
            UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
        )


# Tables with row-level security; the migration that creates a table adds its policy.
TENANT_TABLES: tuple[str, ...] = (
    "users", "api_keys", "widget_keys", "documents", "chunks",
    "conversations", "messages", "feedback", "handoffs", "usage_daily",
    "record_collections", "records", "http_tools",
    "analytics_daily", "model_runs", "conversation_scores", "knowledge_gap_topics", "knowledge_gap_questions",
    "evaluation_runs", "evaluation_failures", "faq_overrides", "term_frequencies", "audit_log",
    "sources", "source_pages", "canned_responses", "answer_checks",
    "webhooks", "webhook_deliveries", "webhook_attempts", "notification_emails", "phrasing_dismissals",
    "reembeds", "reembed_vectors",
)
