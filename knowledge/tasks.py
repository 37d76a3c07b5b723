"""Dramatiq actors of the knowledge pipeline. They take ids, re-read the database, are idempotent.

A job that keeps failing is retried with backoff; when Dramatiq's retries are exhausted it sends
the actor's `on_retry_exhausted` handler (below each actor), which records the failure where the
tenant sees it: the document or the evaluation run becomes `failed` with a message a person
understands. Details (paths, SQL) stay in the log.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import dramatiq

import core.broker  # noqa: F401 - installs Kefu's broker before the actors below register
from core import metrics
from core.broker import failure_name
from core.logging import bind_log_context
from core.settings import get_settings
from knowledge import evaluation, indexing, ingest_lease, ingest_share, reembed, row_indexing, vector_index
from knowledge.sources import store, sync

log = logging.getLogger(__name__)
_settings = get_settings()


# Below answers in a worker's local queue (lower number = sooner; answers are 0), and limited per
# worker process and per tenant (knowledge/ingest_share.py), so uploads never starve chat or other tenants.
INGEST_PRIORITY = 10


@dramatiq.actor(
    queue_name="ingest",
    priority=INGEST_PRIORITY,
    max_retries=_settings.ingest_max_retries,
    time_limit=_settings.ingest_time_limit_ms,
    min_backoff=2_000,
    max_backoff=60_000,
    on_retry_exhausted="ingest_gave_up",
)
def ingest_document(tenant_id: str, document_id: str) -> None:
    """Parse, embed and index a document (safe to run twice); waits its turn when its worker or tenant is busy."""
    tenant, document = uuid.UUID(tenant_id), uuid.UUID(document_id)
    bind_log_context(tenant_id=tenant_id, document_id=document_id)
    if not ingest_share.take_process_slot():
        _ingest_later(tenant_id, document_id)
        return
    try:
        if not ingest_share.take_tenant_share(tenant, document, ingest_lease.lease_seconds()):
            _ingest_later(tenant_id, document_id)
            return
        try:
            outcome = indexing.ingest(tenant, document)
        finally:
            ingest_share.release_tenant_share(tenant, document)
    finally:
        ingest_share.release_process_slot()
    for source_ref in outcome.stale_rows:  # FAQ rows an admin changed while this ran
        reindex_faq_row.send(tenant_id, document_id, source_ref)
    metrics.INGESTED_DOCUMENTS.labels(outcome.status).inc()
    if outcome.status == "ready":
        metrics.INGESTED_CHUNKS.inc(outcome.chunk_count)
    if outcome.status == "ready" and vector_index.chunk_count(tenant) >= vector_index.index_threshold():
        build_tenant_vector_index.send(tenant_id)


def _ingest_later(tenant_id: str, document_id: str) -> None:
    """No room now: ask again shortly, giving this thread back (the document stays `queued`)."""
    ingest_document.send_with_options(args=(tenant_id, document_id), delay=ingest_share.WAIT_MS)


@dramatiq.actor(queue_name="ingest", max_retries=3)
def ingest_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """The document's job failed on every attempt: mark it failed so the admin sees it and can upload again."""
    tenant_id, document_id = message["args"]
    bind_log_context(tenant_id=tenant_id, document_id=document_id)
    indexing.mark_failed(uuid.UUID(tenant_id), uuid.UUID(document_id), None,
                         f"Processing failed after several attempts ({failure_name(message)}). "
                         "Upload the file again or contact support if it keeps failing.")
    log.error("ingest failed permanently", extra={"retries": retry_info.get("retries")})
    metrics.INGESTED_DOCUMENTS.labels("failed").inc()


@dramatiq.actor(queue_name="maintenance", max_retries=3, time_limit=60 * 60 * 1000)
def build_tenant_vector_index(tenant_id: str) -> None:
    """Give a growing tenant its own partial GIN and HNSW indexes once large enough for each (no-op when
    they exist or it is too small)."""
    vector_index.ensure_tenant_index(uuid.UUID(tenant_id))


# On the maintenance queue with a long time limit: a large tenant takes as long as ingesting all of
# its documents again. A retried job resumes with the vectors it already staged.
@dramatiq.actor(queue_name="maintenance", max_retries=3, time_limit=12 * 3600 * 1000, min_backoff=5_000,
                max_backoff=120_000, on_retry_exhausted="reembed_gave_up")
def reembed_tenant(tenant_id: str, reembed_id: str) -> None:
    """Re-embed a tenant's chunks with another embedder and switch to them at once (`knowledge.reembed`)."""
    bind_log_context(tenant_id=tenant_id, reembed_id=reembed_id)
    result = reembed.run(uuid.UUID(tenant_id), uuid.UUID(reembed_id))
    log.info("re-embedding finished", extra={"status": result.status, "chunks": result.chunks})


@dramatiq.actor(queue_name="maintenance", max_retries=3)
def reembed_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Every attempt failed: the job is failed, its staged vectors dropped; searches never left the old ones."""
    tenant_id, reembed_id = message["args"]
    bind_log_context(tenant_id=tenant_id, reembed_id=reembed_id)
    reembed.fail(uuid.UUID(tenant_id), uuid.UUID(reembed_id),
                 f"Re-embedding failed after several attempts ({failure_name(message)}); the tenant still "
                 "searches its old vectors. Check the embedder and run `kefu reembed` again.")
    log.error("re-embedding failed permanently", extra={"retries": retry_info.get("retries")})


@dramatiq.actor(queue_name="ingest", max_retries=_settings.ingest_max_retries, time_limit=10 * 60 * 1000,
                min_backoff=1_000, max_backoff=30_000)
def reindex_faq_row(tenant_id: str, document_id: str, source_ref: str) -> None:
    """Re-embed one uploaded FAQ row after an admin edited, disabled or reverted it (safe to run twice)."""
    bind_log_context(tenant_id=tenant_id, document_id=document_id)
    result = row_indexing.reindex_row(uuid.UUID(tenant_id), uuid.UUID(document_id), source_ref)
    log.info("faq row job finished", extra={"source_ref": source_ref, "result": result})


# On the analytics queue: a run measures accuracy and may take minutes, so it never waits behind
# (or delays) uploads being indexed.
@dramatiq.actor(queue_name="analytics", max_retries=2, time_limit=60 * 60 * 1000,
                on_retry_exhausted="evaluation_gave_up")
def score_evaluation_run(tenant_id: str, run_id: str) -> None:
    """Score a queued evaluation run; the run row says queued, running, done or failed."""
    bind_log_context(tenant_id=tenant_id, run_id=run_id)
    result = evaluation.score_run(uuid.UUID(tenant_id), uuid.UUID(run_id))
    log.info("evaluation run finished", extra={"result": result})


@dramatiq.actor(queue_name="analytics", max_retries=3)
def evaluation_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    tenant_id, run_id = message["args"]
    bind_log_context(tenant_id=tenant_id, run_id=run_id)
    evaluation.fail_run(uuid.UUID(tenant_id), uuid.UUID(run_id),
                        f"Scoring failed after several attempts ({failure_name(message)}). "
                        "Upload the question set again or contact support if it keeps failing.")
    log.error("evaluation run failed permanently", extra={"retries": retry_info.get("retries")})


SYNC_WAIT_MS = 30_000  # a sync that cannot start yet asks again this much later
_CRAWL_SLOTS = threading.BoundedSemaphore(_settings.crawl_syncs_per_worker)


def _wait_for_turn(tenant: uuid.UUID, source_id: str, run: uuid.UUID) -> None:
    if store.touch_waiting(tenant, uuid.UUID(source_id), run):
        sync_source.send_with_options(args=(str(tenant), source_id, str(run)), delay=SYNC_WAIT_MS)


# On its own queue, at the lowest priority: a crawl (minutes of fetching and embedding) never sits in
# front of an upload or an answer in a worker's queue, one sync per tenant runs at a time
# (`tenant_lock`), and an operator can give crawls their own worker (`kefu worker --queues crawl`).
@dramatiq.actor(queue_name="crawl", priority=100, max_retries=2, time_limit=_settings.crawl_time_limit_ms,
                min_backoff=10_000, max_backoff=120_000, on_retry_exhausted="sync_gave_up")
def sync_source(tenant_id: str, source_id: str, run_id: str) -> None:
    """Crawl a website source and bring its documents in line with the site (safe to run twice)."""
    bind_log_context(tenant_id=tenant_id, source_id=source_id)
    tenant, run = uuid.UUID(tenant_id), uuid.UUID(run_id)
    # A worker process crawls at most KEFU_CRAWL_SYNCS_PER_WORKER sites at once, so its other threads
    # stay free for answers and uploads however many tenants sync; a tenant syncs one source at a time.
    if not _CRAWL_SLOTS.acquire(blocking=False):
        _wait_for_turn(tenant, source_id, run)
        return
    try:
        with sync.tenant_lock(tenant, run) as acquired:
            if not acquired:  # another of the tenant's sources is syncing: wait for it, not a worker thread
                _wait_for_turn(tenant, source_id, run)
                return
            report = sync.run_sync(tenant, uuid.UUID(source_id), run)
    finally:
        _CRAWL_SLOTS.release()
    log.info("source sync finished", extra={"status": report.status, "detail": report.detail})


@dramatiq.actor(queue_name="crawl", max_retries=3)
def sync_gave_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    tenant_id, source_id, run_id = message["args"]
    bind_log_context(tenant_id=tenant_id, source_id=source_id)
    store.mark_failed(uuid.UUID(tenant_id), uuid.UUID(source_id), uuid.UUID(run_id),
                      f"The sync failed after several attempts ({failure_name(message)}). "
                      "Sync again, or contact support if it keeps failing.")
    log.error("source sync failed permanently", extra={"retries": retry_info.get("retries")})
