"""Embedders as data: which embedder made each chunk's vectors, and re-embedding a tenant."""

from __future__ import annotations

import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, utcnow_column, uuid_pk

REEMBED_STATUSES = ("queued", "running", "done", "failed")


class Embedder(Base):
    """One kind of vector (`knowledge.embedding.EmbedderSpec`); vectors of two rows are never compared."""

    __tablename__ = "embedders"
    __table_args__ = (
        CheckConstraint("dimension BETWEEN 1 AND 2000", name="dimension"),
        UniqueConstraint("name", "model", "dimension", name="uq_embedders_name_model_dimension"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(20), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    dimension: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = utcnow_column()


def _tenant_column() -> Mapped[uuid.UUID]:
    # Not indexed on its own: these rows are found by job id; row-level security filters on it.
    return mapped_column(UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


class Reembed(Base):
    """A tenant's move to another embedder (`knowledge.reembed`): queued → running → done | failed."""

    __tablename__ = "reembeds"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        Index("ix_reembeds_tenant_created", "tenant_id", "created_at"),
        Index("uq_reembeds_tenant_active", "tenant_id", unique=True,
              postgresql_where=text("status IN ('queued', 'running')")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_column()
    embedder_id: Mapped[int] = mapped_column(SmallInteger, ForeignKey("embedders.id"), nullable=False)
    previous_embedder_id: Mapped[int | None] = mapped_column(SmallInteger, ForeignKey("embedders.id"))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="queued", server_default="queued")
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    embedded: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = utcnow_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReembedVector(Base):
    """A chunk's vectors from the new embedder, staged until the switch copies them into `chunks`."""

    __tablename__ = "reembed_vectors"
    __table_args__ = (Index("ix_reembed_vectors_chunk_id", "chunk_id"),)

    reembed_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("reembeds.id", ondelete="CASCADE"), primary_key=True)
    chunk_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_column()
    embedding: Mapped[list[float]] = mapped_column(Vector(), nullable=False)
    question_embedding: Mapped[list[float] | None] = mapped_column(Vector())
