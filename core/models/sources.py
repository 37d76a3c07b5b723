"""Knowledge sources: a tenant's website, crawled and kept in sync, one document per page."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, TenantOwned, utcnow_column, uuid_pk

SOURCE_STATUSES = ("queued", "crawling", "ready", "failed")
SOURCE_SCHEDULES = ("off", "daily", "weekly")
# What the last sync did with a page: indexed (new or changed), unchanged, failed (reason in
# `error`; an earlier good version stays searchable), removed (gone from the site), skipped (not
# indexable: not HTML/PDF/DOCX, a duplicate of another page, no text).
PAGE_RESULTS = ("indexed", "unchanged", "failed", "removed", "skipped")


class Source(TenantOwned, Base):
    __tablename__ = "sources"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'crawling', 'ready', 'failed')", name="status"),
        CheckConstraint("schedule IN ('off', 'daily', 'weekly')", name="schedule"),
        CheckConstraint("type IN ('website')", name="type"),
        # The worker's schedule scans due sources across tenants (knowledge.sources.schedule).
        Index("ix_sources_next_sync", "next_sync_at", postgresql_where=text("schedule <> 'off'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    type: Mapped[str] = mapped_column(String(20), nullable=False, default="website")
    url: Mapped[str] = mapped_column(Text, nullable=False)
    max_pages: Mapped[int] = mapped_column(Integer, nullable=False)
    max_depth: Mapped[int] = mapped_column(Integer, nullable=False)
    schedule: Mapped[str] = mapped_column(String(10), nullable=False, default="off")
    include: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    exclude: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    # The sync the source is on: a job for an older run is stale and does nothing.
    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, default=uuid.uuid4)
    pages_seen: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    pages_indexed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    pages_unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    pages_removed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    pages_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    pages_skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    sync_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = utcnow_column()
    # Also the running sync's heartbeat: a `crawling` source not touched for long lost its worker.
    updated_at: Mapped[datetime] = utcnow_column()


class SourcePage(TenantOwned, Base):
    __tablename__ = "source_pages"
    __table_args__ = (
        CheckConstraint("result IN ('indexed', 'unchanged', 'failed', 'removed', 'skipped')", name="result"),
        # URLs can be longer than a btree entry may be: pages are unique by the URL's SHA-256.
        Index("uq_source_pages_source_url", "source_id", "url_key", unique=True),
        Index("ix_source_pages_document", "document_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    source_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sources.id", ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str] = mapped_column(Text, nullable=False)
    url_key: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(20), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    depth: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # Hash of the extracted main text (HTML) or of the file (PDF/DOCX): equal means nothing to embed.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    # Same-site links found on the page, so a 304 or unchanged page still leads the crawl on.
    links: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    document_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="SET NULL")
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # the sync that last saw it
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = utcnow_column()
    updated_at: Mapped[datetime] = utcnow_column()

