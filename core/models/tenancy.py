"""Tenants and the credentials that act for them: users, admin API keys, widget keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, TenantOwned, utcnow_column, uuid_pk

ROLES = ("owner", "admin", "analyst", "agent")
# API keys act for integrations and reports; an agent is a person who holds conversations.
KEY_ROLES = ("owner", "admin", "analyst")


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("retention_days BETWEEN 1 AND 36500", name="retention_days"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    created_at: Mapped[datetime] = utcnow_column()
    # The identity-verification secret, encrypted (core.identity); never logged, shown to admins only.
    identity_secret: Mapped[str | None] = mapped_column(Text)
    # The tenant's model API keys as one sealed JSON object (chat.model_keys); never shown or logged.
    model_secrets: Mapped[str | None] = mapped_column(Text)
    # The API key of the tenant's own reranker endpoint, sealed (knowledge.reranker_settings); never shown.
    reranker_secret: Mapped[str | None] = mapped_column(Text)
    # Conversations whose last message is older than this many days are deleted (None: kept).
    retention_days: Mapped[int | None] = mapped_column(Integer)
    # The embedder whose vectors the tenant's searches use (knowledge.embedders); None until its first
    # chunks are indexed, with the operator's embedder then.
    embedder_id: Mapped[int | None] = mapped_column(SmallInteger, ForeignKey("embedders.id"))


class User(TenantOwned, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('owner', 'admin', 'analyst', 'agent')", name="role"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    # Stored lower-cased; unique across tenants so a login needs only email + password.
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    created_at: Mapped[datetime] = utcnow_column()
    # The name customers see on an agent's replies (None: the part of the email before the @).
    display_name: Mapped[str | None] = mapped_column(String(200))


class ApiKey(TenantOwned, Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("role IN ('owner', 'admin', 'analyst')", name="role"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = utcnow_column()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WidgetKey(TenantOwned, Base):
    __tablename__ = "widget_keys"

    id: Mapped[uuid.UUID] = uuid_pk()
    key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    allowed_origins: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, default=list, server_default="{}"
    )
    created_at: Mapped[datetime] = utcnow_column()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
