"""Evaluation runs: a tenant's labelled question set scored against its own knowledge."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Float, ForeignKey, Identity, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, TenantOwned, utcnow_column, uuid_pk

EVALUATION_STATUSES = ("queued", "running", "done", "failed")


class EvaluationRun(TenantOwned, Base):
    """One scored question set: retrieval accuracy and the answer / hand-off decision.

    A run is queued with its question set in the blob store and scored by a worker; the scores
    stay NULL until it is `done`, and `error` says why a `failed` run failed.
    """

    __tablename__ = "evaluation_runs"
    __table_args__ = (
        Index("ix_evaluation_runs_tenant_created", "tenant_id", "created_at"),
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="done", server_default="done")
    error: Mapped[str | None] = mapped_column(Text)
    input_blob_key: Mapped[str | None] = mapped_column(Text)  # the uploaded question set
    questions: Mapped[int | None] = mapped_column(Integer)
    in_scope: Mapped[int | None] = mapped_column(Integer)
    # Over in-scope questions (those with an expected entry); None when the set has none.
    top1: Mapped[float | None] = mapped_column(Float)
    mrr: Mapped[float | None] = mapped_column(Float)
    recall_at_5: Mapped[float | None] = mapped_column(Float)
    answer_rate: Mapped[float | None] = mapped_column(Float)
    # Over out-of-scope questions (expected left empty): the share the bot would not answer.
    handoff_rate: Mapped[float | None] = mapped_column(Float)
    # Every row: in-scope answered with a right top entry, or out-of-scope not answered.
    accuracy: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    failures: Mapped[int | None] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_at: Mapped[datetime] = utcnow_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EvaluationFailure(TenantOwned, Base):
    """A question the run got wrong, with what retrieval returned instead."""

    __tablename__ = "evaluation_failures"
    __table_args__ = (Index("ix_evaluation_failures_run_row", "run_id", "row"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("evaluation_runs.id", ondelete="CASCADE"), nullable=False
    )
    row: Mapped[int] = mapped_column(Integer, nullable=False)  # 1-based data row of the uploaded file
    question: Mapped[str] = mapped_column(Text, nullable=False)
    expected: Mapped[str] = mapped_column(Text, nullable=False)  # expected ids joined by " | "; "" = out of scope
    # wrong_top1 | not_answered | answered_out_of_scope
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    top_ref: Mapped[str | None] = mapped_column(Text)
    top_text: Mapped[str | None] = mapped_column(Text)
    rank: Mapped[int | None] = mapped_column(Integer)  # rank of the first right entry in the top 10
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
