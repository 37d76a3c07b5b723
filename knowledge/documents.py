"""Document lifecycle: accept an upload, list, read and delete documents.

The functions take a tenant-scoped synchronous `Session`; the API calls them through
`AsyncSession.run_sync`, the CLI and Dash directly, so there is one implementation.
Originals are written to the blob store *before* the transaction (content-addressed, so a retry
writes the same key) and the ingest message is sent *after* commit, so a worker never sees a
document row that is not there yet.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Document
from knowledge.blobstore import get_blob_store
from knowledge.parsing import check_upload, safe_filename

UploadAction = Literal["created", "new_version", "unchanged", "requeued", "reindexed"]


@dataclass(frozen=True)
class PreparedUpload:
    filename: str
    source_type: str
    content_type: str | None
    size_bytes: int
    content_hash: str
    blob_key: str


@dataclass(frozen=True)
class UploadResult:
    document: Document
    action: UploadAction

    @property
    def needs_ingest(self) -> bool:
        return self.action != "unchanged"


def prepare_upload(
    tenant_id: uuid.UUID, filename: str, data: bytes, content_type: str | None = None
) -> PreparedUpload:
    """Validate an upload (size, emptiness, type) and store the original; no database work."""
    name = safe_filename(filename or "upload")
    source_type = check_upload(name, data, content_type)
    digest = hashlib.sha256(data).hexdigest()
    blob_key = f"tenants/{tenant_id}/{digest[:2]}/{digest}{PurePath(name).suffix.lower()}"
    get_blob_store().put(blob_key, data)
    return PreparedUpload(name, source_type, content_type, len(data), digest, blob_key)


def record_upload(session: Session, tenant_id: uuid.UUID, upload: PreparedUpload) -> UploadResult:
    """Create the document, a new version of a same-named one, or recognise identical content."""
    same_content = session.scalars(
        select(Document).where(Document.tenant_id == tenant_id, Document.content_hash == upload.content_hash,
                               Document.source_id.is_(None))  # a website page is its source's, not an upload
    ).first()
    if same_content is not None:
        if same_content.status == "failed":
            _requeue(same_content)
            return UploadResult(same_content, "requeued")
        return UploadResult(same_content, "unchanged")

    existing = session.scalars(
        select(Document)
        .where(Document.tenant_id == tenant_id, Document.filename == upload.filename)
        .with_for_update()
    ).first()
    if existing is not None:
        existing.version += 1
        existing.content_hash = upload.content_hash
        existing.blob_key = upload.blob_key
        existing.size_bytes = upload.size_bytes
        existing.source_type = upload.source_type
        existing.content_type = upload.content_type
        _requeue(existing)
        return UploadResult(existing, "new_version")

    document = Document(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        title=PurePath(upload.filename).stem[:300] or upload.filename,
        filename=upload.filename,
        source_type=upload.source_type,
        content_type=upload.content_type,
        size_bytes=upload.size_bytes,
        content_hash=upload.content_hash,
        blob_key=upload.blob_key,
        status="queued",
    )
    session.add(document)
    session.flush()
    return UploadResult(document, "created")


def _requeue(document: Document) -> None:
    document.status = "queued"
    document.error = None
    document.updated_at = datetime.now(UTC)
    document.lease_until = None


def requeue_for_reindex(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID) -> Document:
    """Queue a failed or stuck document to be indexed again (409 when there is nothing to rescue).

    Stuck means `queued` (its job may be lost) or `processing` with a lapsed lease (its worker is
    gone). A document being indexed by a live worker, or already indexed, is left alone.
    """
    document = session.scalars(select(Document).where(Document.tenant_id == tenant_id, Document.id == document_id)
                               .with_for_update()).first()
    if document is None:
        raise NotFound(f"No document {document_id} in this tenant.")
    if document.status == "ready":
        raise Conflict("This document is already indexed; upload a new version of the file to change it.")
    if document.status == "processing" and document.lease_until is not None and \
            document.lease_until > datetime.now(UTC):
        raise Conflict("A worker is indexing this document right now; if it is still processing in a "
                       "minute, run it again.")
    _requeue(document)
    return document


def get_document(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID) -> Document:
    document = session.scalars(
        select(Document).where(Document.tenant_id == tenant_id, Document.id == document_id)
    ).first()
    if document is None:
        raise NotFound(f"No document {document_id} in this tenant.")
    return document


def list_documents(
    session: Session, tenant_id: uuid.UUID, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Document], int]:
    if limit < 1 or limit > 500 or offset < 0:
        raise ValidationFailed("limit must be 1-500 and offset 0 or more.")
    query = select(Document).where(Document.tenant_id == tenant_id)
    if status is not None:
        query = query.where(Document.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Document.created_at.desc()).limit(limit).offset(offset)).all()
    return list(rows), int(total)


def delete_document(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID) -> str:
    """Delete a document and (by cascade) its chunks; returns the blob key to remove after commit."""
    document = get_document(session, tenant_id, document_id)
    blob_key = document.blob_key
    session.delete(document)
    session.flush()
    return blob_key


def remove_blob(blob_key: str) -> None:
    get_blob_store().delete(blob_key)
