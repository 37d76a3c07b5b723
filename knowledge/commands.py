"""Every user-visible write of the knowledge domain, whole: validate, store, enqueue (or mark failed), bump.

The API, the admin app, the CLI and the demo call these and nothing below them, so a write finishes
the same way whichever door it came through. They are synchronous (the API runs them with
`asyncio.to_thread`); each stores in its own short transaction, sends work to the workers only
after the commit (`core.jobs.enqueue`), and bumps the tenant's version when answers can change
without a worker (deletions); the workers bump it when they finish indexing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from core import audit
from core.audit import Actor
from core.db import tenant_session_sync
from core.errors import ValidationFailed
from core.jobs import enqueue_sync
from core.models import RecordCollection, Source
from core.versions import bump_tenant_version_sync
from knowledge import (
    curation,
    documents,
    evaluation,
    faq_overrides,
    indexing,
    phrasing_suggestions,
    records,
    reembed,
)
from knowledge.documents import UploadAction
from knowledge.faq_overrides import FaqRow
from knowledge.sources import store as sources_store
from knowledge.sources.config import check_website
from knowledge.tasks import ingest_document, reembed_tenant, reindex_faq_row, score_evaluation_run, sync_source

QUEUE_DOWN_UPLOAD = "The work queue was unreachable when this was uploaded; upload it again."


@dataclass(frozen=True)
class UploadAccepted:
    document_id: uuid.UUID
    status: str
    version: int
    action: UploadAction
    filename: str
    error: str | None = None  # why an inline upload could not be indexed


def upload_document(tenant_id: uuid.UUID, filename: str, data: bytes, content_type: str | None = None, *,
                    inline: bool = False, actor: Actor | None = None) -> UploadAccepted:
    """Check and keep an upload, record it, and queue it for indexing (or index it here when `inline`).

    Identical content is recognised ("unchanged", nothing queued); a failed document uploaded again
    is queued again. When the queue is down the document is marked failed, so it never waits forever.
    """
    prepared = documents.prepare_upload(tenant_id, filename, data, content_type)
    with tenant_session_sync(tenant_id) as session:
        result = documents.record_upload(session, tenant_id, prepared)
        document = result.document
        audit.record(session, tenant_id, actor, "documents.upload", prepared.filename,
                     {"document_id": str(document.id), "action": str(result.action), "version": document.version})
        accepted = UploadAccepted(document.id, document.status, document.version, result.action, prepared.filename)
    if not result.needs_ingest:
        return accepted
    if inline:
        outcome = indexing.ingest(tenant_id, accepted.document_id)
        return replace(accepted, status=outcome.status, error=outcome.detail)
    enqueue_sync(ingest_document, str(tenant_id), str(accepted.document_id),
            unavailable=f"{accepted.filename} is stored but the work queue is unreachable; upload it again shortly.",
            on_failure=lambda: indexing.mark_failed(tenant_id, accepted.document_id, accepted.version,
                                                    QUEUE_DOWN_UPLOAD))
    return accepted


def reindex_document(tenant_id: uuid.UUID, document_id: uuid.UUID, *, actor: Actor | None = None) -> UploadAccepted:
    """Run a failed or stuck document's indexing again (an admin's way out; see `documents.requeue_for_reindex`)."""
    with tenant_session_sync(tenant_id) as session:
        document = documents.requeue_for_reindex(session, tenant_id, document_id)
        audit.record(session, tenant_id, actor, "documents.reindex", document.filename,
                     {"document_id": str(document.id), "version": document.version})
        accepted = UploadAccepted(document.id, document.status, document.version, "reindexed",
                                  document.filename)
    enqueue_sync(ingest_document, str(tenant_id), str(document_id),
                 unavailable="The work queue is unreachable; run the document again shortly.",
                 on_failure=lambda: indexing.mark_failed(tenant_id, document_id, accepted.version, QUEUE_DOWN_UPLOAD))
    return accepted


def delete_documents(tenant_id: uuid.UUID, document_ids: Iterable[uuid.UUID], *, actor: Actor | None = None) -> int:
    """Delete documents and their chunks (another tenant's id is 'not found'); returns how many."""
    ids = list(document_ids)
    if not ids:
        raise ValidationFailed("Select the documents to delete first.")
    with tenant_session_sync(tenant_id) as session:
        blob_keys = [documents.delete_document(session, tenant_id, document_id) for document_id in ids]
        for document_id in ids:
            audit.record(session, tenant_id, actor, "documents.delete", str(document_id))
    bump_tenant_version_sync(tenant_id)  # cached answers may quote the deleted text
    for key in blob_keys:
        documents.remove_blob(key)
    return len(ids)


# --- uploaded FAQ rows: the change is stored, then the worker re-embeds that row and bumps ---------

_ROW_QUEUE_DOWN = ("The change is saved but the work queue is unreachable; it reaches answers when the document "
                   "is next indexed, or save it again shortly.")


def _reindex(tenant_id: uuid.UUID, document_id: uuid.UUID, row: FaqRow) -> FaqRow:
    enqueue_sync(reindex_faq_row, str(tenant_id), str(document_id), row.source_ref, unavailable=_ROW_QUEUE_DOWN)
    return row


def edit_faq_row(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, question: str, answer: str, *,
                 user_id: uuid.UUID | None = None) -> FaqRow:
    """Replace an uploaded row's question and answer (kept across re-uploads) and re-embed it."""
    row = faq_overrides.edit_row(tenant_id, document_id, source_ref, question, answer, user_id=user_id)
    return _reindex(tenant_id, document_id, row)


def set_faq_row_disabled(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, disabled: bool, *,
                         user_id: uuid.UUID | None = None) -> FaqRow:
    """Take an uploaded row out of answers, or bring it back."""
    row = faq_overrides.set_disabled(tenant_id, document_id, source_ref, disabled, user_id=user_id)
    return _reindex(tenant_id, document_id, row)


def set_faq_row_similar_questions(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str,
                                  phrasings: object, *, user_id: uuid.UUID | None = None) -> FaqRow:
    """Replace an uploaded row's similar questions (kept across re-uploads) and re-embed the row."""
    row = faq_overrides.set_similar_questions(tenant_id, document_id, source_ref, phrasings, user_id=user_id)
    return _reindex(tenant_id, document_id, row)


def add_similar_question(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, phrasing: str, *,
                         user_id: uuid.UUID | None = None) -> None:
    """Add one wording to a row's similar questions (a manual entry or an uploaded row) and re-index it."""
    phrasing = " ".join((phrasing or "").split())
    if not phrasing:
        raise ValidationFailed("The similar question is empty.")
    with tenant_session_sync(tenant_id) as session:
        document = documents.get_document(session, tenant_id, document_id)
        manual = document.filename == curation.MANUAL_FAQ_FILENAME
    if manual:
        _index_manual(tenant_id, curation.add_similar_question(tenant_id, source_ref, phrasing))
    else:
        _reindex(tenant_id, document_id, faq_overrides.set_similar_questions(
            tenant_id, document_id, source_ref, [phrasing], user_id=user_id, add=True))


def dismiss_phrasing(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, phrasing: str, *,
                     user_id: uuid.UUID | None = None) -> None:
    """Stop suggesting a wording from real traffic for a row (answers do not change)."""
    phrasing_suggestions.dismiss(tenant_id, document_id, source_ref, phrasing, user_id=user_id)


def revert_faq_row(tenant_id: uuid.UUID, document_id: uuid.UUID, source_ref: str, *,
                   user_id: uuid.UUID | None = None) -> FaqRow:
    """Drop a row's edit: it answers with the file's text again."""
    row = faq_overrides.revert_row(tenant_id, document_id, source_ref, user_id=user_id)
    return _reindex(tenant_id, document_id, row)


# --- manual FAQ entries: one JSON document per tenant, re-indexed as a whole -----------------------

def _index_manual(tenant_id: uuid.UUID, change: curation.FaqChange) -> curation.FaqChange:
    if change.document_id is None:
        bump_tenant_version_sync(tenant_id)  # the last entry is gone, and its chunks with the document
    else:
        enqueue_sync(ingest_document, str(tenant_id), str(change.document_id),
                unavailable="The entry is saved but the work queue is unreachable; save it again shortly.")
    return change


def add_faq_entry(tenant_id: uuid.UUID, question: str, answer: str, category: str | None = None,
                  similar_questions: object = None) -> curation.FaqChange:
    return _index_manual(tenant_id, curation.add_faq_entry(tenant_id, question, answer, category,
                                                           similar_questions))


def update_faq_entry(tenant_id: uuid.UUID, entry_id: str, question: str, answer: str, category: str | None = None,
                     similar_questions: object = None) -> curation.FaqChange:
    return _index_manual(tenant_id, curation.update_faq_entry(tenant_id, entry_id, question, answer, category,
                                                              similar_questions))


def delete_faq_entry(tenant_id: uuid.UUID, entry_id: str) -> curation.FaqChange:
    return _index_manual(tenant_id, curation.delete_faq_entry(tenant_id, entry_id))


# --- evaluation runs and records ------------------------------------------------------------------

def queue_evaluation(tenant_id: uuid.UUID, csv_bytes: bytes, *, name: str | None = None,
                     threshold: float | None = None) -> uuid.UUID:
    """Check a labelled question set, keep it, and have a worker score it; returns the run id."""
    run_id = evaluation.store_queued_run(tenant_id, csv_bytes, name=name, threshold=threshold)
    enqueue_sync(score_evaluation_run, str(tenant_id), str(run_id),
            unavailable="The work queue is unreachable; upload the question set again shortly.",
            on_failure=lambda: evaluation.fail_run(tenant_id, run_id,
                                                   "The work queue was unreachable; upload the question set again."))
    return run_id


def import_records(tenant_id: uuid.UUID, collection: str, filename: str, data: bytes, key_column: str,
                   access: records.AccessChange | None = None, *, actor: Actor | None = None) -> RecordCollection:
    """Replace a record collection's rows with a CSV/JSON file's (all or nothing).

    `access` sets who may read it in the chat (owner column, public, sensitive columns); left out,
    a new collection is private and an existing one keeps its rules.
    """
    records.check_collection_name(collection)
    # Parsed before the transaction: a large file never holds a connection while it is read.
    parsed = records.parse_records(filename, data, key_column)
    with tenant_session_sync(tenant_id) as session:
        stored = records.store_records(session, tenant_id, collection, parsed, access)
        audit.record(session, tenant_id, actor, "records.import", collection, _access_details(stored, rows=True))
    bump_tenant_version_sync(tenant_id)  # cached answers and the tools' view of collections change
    return stored


def change_record_access(tenant_id: uuid.UUID, collection: str, access: records.AccessChange, *,
                         actor: Actor | None = None) -> RecordCollection:
    """Change who may read a collection in the chat (owner column, public) and which columns are masked."""
    if access.empty:
        raise ValidationFailed("Send at least one of owner_column, sensitive_columns, public.")
    with tenant_session_sync(tenant_id) as session:
        stored = records.change_access(session, tenant_id, collection, access)
        audit.record(session, tenant_id, actor, "records.access", collection, _access_details(stored))
    bump_tenant_version_sync(tenant_id)
    return stored


def _access_details(stored: RecordCollection, *, rows: bool = False) -> dict[str, object]:
    details: dict[str, object] = {"access": stored.access, "owner_column": stored.owner_column,
                                  "sensitive_columns": list(stored.sensitive_columns)}
    if rows:
        details["rows"] = stored.row_count
    return details


def delete_record_collection(tenant_id: uuid.UUID, collection: str, *, actor: Actor | None = None) -> None:
    with tenant_session_sync(tenant_id) as session:
        records.delete_collection(session, tenant_id, collection)
        audit.record(session, tenant_id, actor, "records.delete", collection)
    bump_tenant_version_sync(tenant_id)


# --- website sources: stored, then a crawl worker syncs them ---------------------------------------

_SOURCE_QUEUE_DOWN = "The source is saved but the work queue is unreachable; sync it again shortly."


def _send_sync(tenant_id: uuid.UUID, source: Source) -> None:
    source_id, run_id = source.id, source.run_id
    enqueue_sync(sync_source, str(tenant_id), str(source_id), str(run_id), unavailable=_SOURCE_QUEUE_DOWN,
                 on_failure=lambda: sources_store.mark_failed(tenant_id, source_id, run_id,
                                                              "The work queue was unreachable; sync again."))


def add_website_source(tenant_id: uuid.UUID, url: Any, *, max_pages: Any = None, max_depth: Any = None,
                       schedule: Any = None, include: Any = None, exclude: Any = None) -> Source:
    """Check and store a website source, and queue its first sync."""
    config = check_website(url, max_pages=max_pages, max_depth=max_depth, schedule=schedule, include=include,
                           exclude=exclude)
    with tenant_session_sync(tenant_id) as session:
        source = sources_store.create_source(session, tenant_id, config)
        session.expunge(source)
    _send_sync(tenant_id, source)
    return source


def sync_source_now(tenant_id: uuid.UUID, source_id: uuid.UUID) -> Source:
    """Queue a sync of the source now (one already waiting is left as it is)."""
    with tenant_session_sync(tenant_id) as session:
        source, send = sources_store.request_sync(session, tenant_id, source_id)
        session.flush()
        session.expunge(source)
    if send:
        _send_sync(tenant_id, source)
    return source


def delete_source(tenant_id: uuid.UUID, source_id: uuid.UUID) -> None:
    """Delete a source with its pages' documents and chunks; a running sync stops at its next write."""
    with tenant_session_sync(tenant_id) as session:
        blob_keys = sources_store.delete_source(session, tenant_id, source_id)
    bump_tenant_version_sync(tenant_id)  # answers may quote the deleted pages
    for key in blob_keys:
        documents.remove_blob(key)


def reembed_knowledge(tenant_id: uuid.UUID, embedder: str, *, inline: bool = False,
                      actor: Actor | None = None) -> reembed.ReembedJob:
    """Queue a re-embedding of the tenant's knowledge with `embedder` (`knowledge.reembed`; `inline`: run it
    here): searches keep using the old vectors until the switch to the new ones in one transaction."""
    spec = reembed.parse_target(embedder)
    with tenant_session_sync(tenant_id) as session:
        job = reembed.request(session, tenant_id, spec)
        audit.record(session, tenant_id, actor, "knowledge.reembed", job.embedder,
                     {"reembed_id": str(job.id), "previous": job.previous, "chunks": job.total})
    if job.status == "done":
        bump_tenant_version_sync(tenant_id)
        return job
    if inline:
        try:
            result = reembed.run(tenant_id, job.id)
        except Exception as exc:
            reembed.fail(tenant_id, job.id, f"Re-embedding failed ({type(exc).__name__}: {exc}); the tenant still "
                                            "searches its old vectors.")
            raise
        return replace(job, status=result.status)
    enqueue_sync(reembed_tenant, str(tenant_id), str(job.id),
                 unavailable="The work queue is unreachable; the re-embedding was not started. Run it again shortly.",
                 on_failure=lambda: reembed.fail(tenant_id, job.id, "The work queue was unreachable; run it again."))
    return job
