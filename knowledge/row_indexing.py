"""Re-index one row of an uploaded FAQ after an admin changed it, without re-embedding the whole file.

The row's wanted state is a function of the indexed version of the file and the row's override, so
the job is idempotent: re-read both, parse the file and embed the row outside any transaction, then
swap that row's chunks in one short transaction under the document's row lock — only if the
document is still at the version parsed and the override at the revision applied. Otherwise a full
ingest is pending (it applies the overrides itself) or a newer job for the row is queued.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select

from core.db import tenant_session_sync
from core.models import Chunk, Document, FaqOverride
from core.versions import bump_tenant_version_sync
from knowledge import faq_overrides, similar_questions
from knowledge.blobstore import get_blob_store
from knowledge.indexing import build_rows, embedder_for, insert_chunks
from knowledge.parsing import parse_document

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Indexed:
    version: int
    blob_key: str
    filename: str
    revision: int | None  # None: the row has no override (reverted)


def reindex_row(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str) -> str:
    """Bring one FAQ row's chunks in line with the file and its override; returns what happened."""
    seen = _read(tenant_id, document_id, source_ref)
    if seen is None:
        return "deferred"  # deleted, or a full (re)index is pending and applies the override itself
    passages = parse_document(seen.filename, get_blob_store().get(seen.blob_key))
    in_file = [p for p in passages if p.source_ref == source_ref]
    overrides = faq_overrides.load_overrides(tenant_id, document_id)
    override = overrides.get(source_ref)
    if (override.revision if override else None) != seen.revision:
        return "superseded"  # changed again meanwhile; that change queued its own job
    kept, kept_ordinals = faq_overrides.apply_overrides(passages, {source_ref: override} if override else {})
    wanted, ordinals = similar_questions.expand(
        [p for p in kept if p.source_ref == source_ref],
        [o for o, p in zip(kept_ordinals, kept, strict=True) if p.source_ref == source_ref])
    chosen, embedder = embedder_for(tenant_id)
    rows = build_rows(wanted, embedder)  # embedding: outside any transaction

    with tenant_session_sync(tenant_id) as session:
        document = session.get(Document, document_id, with_for_update=True)
        if document is None or document.version != seen.version or document.indexed_version != seen.version:
            return "deferred"
        stored = session.scalars(select(FaqOverride).where(
            FaqOverride.tenant_id == tenant_id, FaqOverride.document_id == document_id,
            FaqOverride.source_ref == source_ref).with_for_update()).first()
        if (stored.revision if stored else None) != seen.revision:
            return "superseded"
        removed = session.execute(delete(Chunk).where(Chunk.document_id == document_id,
                                                      Chunk.source_ref == source_ref)).rowcount or 0
        insert_chunks(session, tenant_id, document_id, rows, ordinals, chosen.id)
        document.chunk_count = document.chunk_count - removed + len(rows)
        if stored is not None:
            file_row = faq_overrides.file_rows(in_file, {source_ref}).get(source_ref)
            stored.file_question, stored.file_answer = file_row if file_row else (None, None)
    bump_tenant_version_sync(tenant_id)  # cached answers may quote the old text
    log.info("faq row re-indexed", extra={"tenant_id": str(tenant_id), "document_id": str(document_id),
                                          "source_ref": source_ref, "chunks": len(rows)})
    return "indexed"


def _read(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str) -> _Indexed | None:
    with tenant_session_sync(tenant_id) as session:
        document = session.get(Document, document_id)
        if document is None or document.status != "ready" or document.indexed_version != document.version:
            return None
        revision = session.scalar(select(FaqOverride.revision).where(
            FaqOverride.tenant_id == tenant_id, FaqOverride.document_id == document_id,
            FaqOverride.source_ref == source_ref))
        return _Indexed(document.version, document.blob_key, document.filename, revision)
