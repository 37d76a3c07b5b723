"""Grounding checks: how much of a model-written answer its cited passages support."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Identity, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, TenantOwned, utcnow_column


class AnswerCheck(TenantOwned, Base):
    """One model-written answer checked sentence by sentence against its evidence (chat.grounding)."""

    __tablename__ = "answer_checks"
    __table_args__ = (Index("ix_answer_checks_tenant_at", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = utcnow_column()
    sentences: Mapped[int] = mapped_column(Integer, nullable=False)
    supported: Mapped[int] = mapped_column(Integer, nullable=False)
    grounded: Mapped[bool] = mapped_column(Boolean, nullable=False)  # every checked sentence supported
    action: Mapped[str] = mapped_column(String(20), nullable=False)  # flag | drop | fallback
    # [{"text", "lexical", "dense"}] for each unsupported sentence, as the model wrote it.
    flagged: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    question: Mapped[str] = mapped_column(String(2000), nullable=False, default="", server_default="")
    draft: Mapped[str] = mapped_column(String(8000), nullable=False, default="", server_default="")
