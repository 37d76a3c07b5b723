"""Sources and their pages in the database: what admins read and what a sync run writes.

Functions taking a `Session` run inside the caller's tenant-scoped transaction (the API through
`run_sync`, commands and the sync directly); the sync's own steps open short transactions of their
own, never across a fetch or an embedding.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.db import tenant_session_sync
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import PAGE_RESULTS, Document, Source, SourcePage
from core.settings import get_settings
from knowledge.blobstore import get_blob_store
from knowledge.sources.config import WebsiteConfig
from knowledge.sources.urls import url_key

SCHEDULE_INTERVALS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
COUNTERS = ("pages_seen", "pages_indexed", "pages_unchanged", "pages_removed", "pages_failed", "pages_skipped")
RUNNING = ("queued", "crawling")


class SyncSuperseded(Exception):
    """The source was deleted or a newer sync was asked for: this run stops where it is."""


def now() -> datetime:
    return datetime.now(UTC)


def next_sync(schedule: str, after: datetime) -> datetime | None:
    interval = SCHEDULE_INTERVALS.get(schedule)
    return after + interval if interval else None


# --- what admins do and read ----------------------------------------------------------------------

def create_source(session: Session, tenant_id: uuid.UUID, config: WebsiteConfig) -> Source:
    same = session.scalars(select(Source).where(Source.tenant_id == tenant_id, Source.url == config.url)).first()
    if same is not None:
        raise Conflict(f"{config.url} is already a source ({same.id}); sync it instead of adding it again.")
    source = Source(id=uuid.uuid4(), tenant_id=tenant_id, type="website", url=config.url, max_pages=config.max_pages,
                    max_depth=config.max_depth, schedule=config.schedule, include=config.include,
                    exclude=config.exclude, status="queued", run_id=uuid.uuid4())
    session.add(source)
    session.flush()
    return source


def get_source(session: Session, tenant_id: uuid.UUID, source_id: uuid.UUID, *, lock: bool = False) -> Source:
    query = select(Source).where(Source.tenant_id == tenant_id, Source.id == source_id)
    source = session.scalars(query.with_for_update() if lock else query).first()
    if source is None:
        raise NotFound(f"No source {source_id} in this tenant.")
    return source


def list_sources(session: Session, tenant_id: uuid.UUID) -> list[Source]:
    return list(session.scalars(select(Source).where(Source.tenant_id == tenant_id).order_by(Source.created_at)))


def list_pages(session: Session, tenant_id: uuid.UUID, source_id: uuid.UUID, *, result: str | None = None,
               limit: int = 100, offset: int = 0) -> tuple[list[SourcePage], int]:
    if result is not None and result not in PAGE_RESULTS:
        raise ValidationFailed(f"result must be one of {', '.join(PAGE_RESULTS)}.")
    get_source(session, tenant_id, source_id)
    query = select(SourcePage).where(SourcePage.tenant_id == tenant_id, SourcePage.source_id == source_id)
    if result is not None:
        query = query.where(SourcePage.result == result)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(SourcePage.updated_at.desc(), SourcePage.id.desc())
                           .limit(limit).offset(offset)).all()
    return list(rows), int(total)


def request_sync(session: Session, tenant_id: uuid.UUID, source_id: uuid.UUID) -> tuple[Source, bool]:
    """Put the source on a new run; returns (source, whether a job must be sent)."""
    source = get_source(session, tenant_id, source_id, lock=True)
    if source.status == "crawling":
        raise Conflict("A sync of this source is running; its progress is on the source. Ask again once it ends.")
    if source.status == "queued":
        return source, False  # already waiting for a worker
    source.status, source.run_id, source.error, source.updated_at = "queued", uuid.uuid4(), None, now()
    return source, True


def delete_source(session: Session, tenant_id: uuid.UUID, source_id: uuid.UUID) -> list[str]:
    """Delete the source, its pages and their documents (chunks cascade); returns blob keys to remove."""
    source = get_source(session, tenant_id, source_id, lock=True)
    keys = list(session.scalars(select(Document.blob_key).where(Document.source_id == source.id)))
    session.execute(delete(Document).where(Document.tenant_id == tenant_id, Document.source_id == source.id))
    session.delete(source)
    session.flush()
    return keys


def mark_failed(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID | None, message: str) -> None:
    """End a run as failed with a reason a person can act on; pages and documents stay as they were."""
    with tenant_session_sync(tenant_id) as session:
        source = session.get(Source, source_id, with_for_update=True)
        if source is None or (run_id is not None and source.run_id != run_id):
            return
        finished = now()
        source.status, source.error, source.updated_at = "failed", message[:2000], finished
        source.next_sync_at = next_sync(source.schedule, finished)


# --- what a sync run writes -------------------------------------------------------------------------

@dataclass(frozen=True)
class KnownPage:
    url: str
    result: str
    content_hash: str | None
    etag: str | None
    last_modified: str | None
    links: list[str]
    document_id: uuid.UUID | None
    document_ok: bool  # its document exists and did not fail


def claim_run(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID) -> Source | None:
    """Start (or restart, after a lost worker) the run: status `crawling`, counters at zero."""
    with tenant_session_sync(tenant_id) as session:
        source = session.get(Source, source_id, with_for_update=True)
        if source is None or source.run_id != run_id or source.status not in RUNNING:
            return None  # deleted, superseded, or already finished (a redelivered message)
        started = now()
        stale = timedelta(seconds=get_settings().crawl_stale_after_seconds)
        if source.status == "crawling" and source.updated_at > started - stale:
            return None  # its worker is alive (its heartbeat is recent): never two runs at once
        source.status, source.error, source.sync_started_at, source.updated_at = "crawling", None, started, started
        for counter in COUNTERS:
            setattr(source, counter, 0)
        session.flush()
        session.expunge(source)
        return source


def touch_waiting(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID) -> bool:
    """A queued run still waiting for its turn says so (the schedule re-sends only silent ones)."""
    with tenant_session_sync(tenant_id) as session:
        return bool(session.execute(
            update(Source).where(Source.id == source_id, Source.run_id == run_id, Source.status == "queued")
            .values(updated_at=now())).rowcount)


def requeue(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """A run that stopped on an error waits, `queued`, for its message's retry."""
    with tenant_session_sync(tenant_id) as session:
        session.execute(update(Source).where(Source.id == source_id, Source.run_id == run_id,
                                             Source.status == "crawling").values(status="queued", updated_at=now()))


def touch_running(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """The running sync's heartbeat (`updated_at`), also between two pages' writes."""
    with tenant_session_sync(tenant_id) as session:
        session.execute(update(Source).where(Source.id == source_id, Source.run_id == run_id,
                                             Source.status == "crawling").values(updated_at=now()))


def known_pages(tenant_id: uuid.UUID, source_id: uuid.UUID) -> dict[str, KnownPage]:
    with tenant_session_sync(tenant_id) as session:
        rows = session.execute(
            select(SourcePage, Document.status)
            .outerjoin(Document, Document.id == SourcePage.document_id)
            .where(SourcePage.source_id == source_id)
        ).all()
        return {page.url: KnownPage(page.url, page.result, page.content_hash, page.etag, page.last_modified,
                                    list(page.links or []), page.document_id,
                                    status is not None and status != "failed")
                for page, status in rows}


def pages_held_elsewhere(tenant_id: uuid.UUID, source_id: uuid.UUID) -> int:
    """Indexed pages of the tenant's other sources (they count against the tenant's page cap)."""
    with tenant_session_sync(tenant_id) as session:
        return int(session.scalar(
            select(func.count()).select_from(SourcePage)
            .where(SourcePage.source_id != source_id, SourcePage.document_id.is_not(None))
        ) or 0)


def store_page_document(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID, url: str, title: str,
                        content: bytes, fmt: str, current: uuid.UUID | None) -> uuid.UUID:
    """Keep a page's content and make it its document's next version (`queued`), as an upload would."""
    digest = hashlib.sha256(content).hexdigest()
    suffix = {"pdf": ".pdf", "docx": ".docx"}.get(fmt, ".md")
    blob_key = f"tenants/{tenant_id}/web/{digest[:2]}/{digest}{suffix}"
    get_blob_store().put(blob_key, content)
    with tenant_session_sync(tenant_id) as session:
        _check_run(session, source_id, run_id)
        document = session.get(Document, current, with_for_update=True) if current else None
        if document is None:  # also a document made by a run that stopped before writing its page row
            document = session.scalars(select(Document).where(Document.source_id == source_id, Document.url == url)
                                       .with_for_update()).first()
        if document is None:
            document = Document(id=uuid.uuid4(), tenant_id=tenant_id, filename=f"web-{url_key(url)[:32]}{suffix}",
                                source_id=source_id, url=url, version=1, status="queued")
            session.add(document)
        else:
            document.version += 1
        document.title = (title or url)[:300]
        document.source_type = "web" if fmt == "html" else fmt
        document.content_type = {"pdf": "application/pdf", "html": "text/markdown"}.get(
            fmt, "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        document.size_bytes, document.content_hash, document.blob_key = len(content), digest, blob_key
        document.status, document.error, document.updated_at = "queued", None, now()
        session.flush()
        return document.id


def page_document_id(tenant_id: uuid.UUID, source_id: uuid.UUID, url: str) -> uuid.UUID | None:
    with tenant_session_sync(tenant_id) as session:
        return session.scalar(select(SourcePage.document_id).where(SourcePage.source_id == source_id,
                                                                   SourcePage.url_key == url_key(url)))


def _check_run(session: Session, source_id: uuid.UUID, run_id: uuid.UUID) -> Source:
    source = session.get(Source, source_id, with_for_update=True)
    if source is None or source.run_id != run_id:
        raise SyncSuperseded()
    return source


def record_pages(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID,
                 rows: list[dict[str, Any]], counts: dict[str, int]) -> None:
    """Write a batch of page results and add to the source's counters (also the run's heartbeat)."""
    with tenant_session_sync(tenant_id) as session:
        source = _check_run(session, source_id, run_id)
        stamp = now()
        for row in rows:
            values = {**row, "tenant_id": tenant_id, "source_id": source_id, "url_key": url_key(row["url"]),
                      "run_id": run_id, "updated_at": stamp}
            changes = {k: v for k, v in values.items() if k not in ("tenant_id", "source_id", "url_key", "url")}
            session.execute(insert(SourcePage).values(**values)
                            .on_conflict_do_update(index_elements=["source_id", "url_key"], set_=changes))
        for counter, amount in counts.items():
            setattr(source, counter, getattr(source, counter) + amount)
        source.updated_at = stamp


def remove_pages(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID, urls: list[str],
                 reason: str) -> list[str]:
    """Pages gone from the site: their documents deleted, the pages marked removed; returns blob keys."""
    if not urls:
        return []
    keys = [url_key(u) for u in urls]
    with tenant_session_sync(tenant_id) as session:
        source = _check_run(session, source_id, run_id)
        document_ids = list(session.scalars(select(SourcePage.document_id).where(
            SourcePage.source_id == source_id, SourcePage.url_key.in_(keys), SourcePage.document_id.is_not(None))))
        blob_keys = list(session.scalars(select(Document.blob_key).where(Document.id.in_(document_ids))))
        session.execute(delete(Document).where(Document.id.in_(document_ids)))
        removed = session.execute(
            update(SourcePage).where(SourcePage.source_id == source_id, SourcePage.url_key.in_(keys),
                                     SourcePage.result != "removed")
            .values(result="removed", error=reason, document_id=None, run_id=run_id, updated_at=now(),
                    etag=None, last_modified=None, content_hash=None)
        ).rowcount
        source.pages_removed += removed or 0
    return blob_keys


def finish_run(tenant_id: uuid.UUID, source_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """Mark the run done; rows this run never touched and that hold no document are forgotten."""
    with tenant_session_sync(tenant_id) as session:
        source = _check_run(session, source_id, run_id)
        session.execute(delete(SourcePage).where(SourcePage.source_id == source_id, SourcePage.run_id != run_id,
                                                 SourcePage.document_id.is_(None)))
        finished = now()
        source.status, source.error, source.updated_at, source.last_sync_at = "ready", None, finished, finished
        source.next_sync_at = next_sync(source.schedule, finished)
