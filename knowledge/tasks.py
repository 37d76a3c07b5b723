"""Dramatiq actors of the knowledge pipeline. They take ids, re-read the database, are idempotent."""

from __future__ import annotations

import logging
import uuid

import dramatiq
from dramatiq.middleware import CurrentMessage

import core.broker  # noqa: F401 - installs Kefu's broker before the actors below register
from core import metrics
from core.logging import bind_log_context
from core.settings import get_settings
from knowledge import evaluation, indexing, row_indexing, vector_index

log = logging.getLogger(__name__)
_settings = get_settings()


def _retries_left(max_retries: int = _settings.ingest_max_retries) -> int:
    """Retries the current message still has; 0 outside a worker (no retry to wait for)."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return 0
    return max_retries - int(message.options.get("retries", 0))


@dramatiq.actor(
    queue_name="ingest",
    max_retries=_settings.ingest_max_retries,
    time_limit=_settings.ingest_time_limit_ms,
    min_backoff=2_000,
    max_backoff=60_000,
)
def ingest_document(tenant_id: str, document_id: str) -> None:
    """Parse, embed and index a document (safe to run twice)."""
    tenant, document = uuid.UUID(tenant_id), uuid.UUID(document_id)
    bind_log_context(tenant_id=tenant_id, document_id=document_id)
    try:
        outcome = indexing.ingest(tenant, document)
    except Exception as exc:
        if _retries_left() <= 0:
            indexing.mark_failed(
                tenant, document, None,
                # The type only: details (paths, SQL) go to the log, not to the tenant.
                f"Processing failed after several attempts ({type(exc).__name__}). "
                "Upload the file again or contact support if it keeps failing.",
            )
            log.exception("ingest failed permanently")
            metrics.INGESTED_DOCUMENTS.labels("failed").inc()
            return
        raise
    for source_ref in outcome.stale_rows:  # FAQ rows an admin changed while this ran
        reindex_faq_row.send(tenant_id, document_id, source_ref)
    metrics.INGESTED_DOCUMENTS.labels(outcome.status).inc()
    if outcome.status == "ready":
        metrics.INGESTED_CHUNKS.inc(outcome.chunk_count)
    if outcome.status == "ready" and vector_index.chunk_count(tenant) >= vector_index.index_threshold():
        build_tenant_vector_index.send(tenant_id)


@dramatiq.actor(queue_name="maintenance", max_retries=3, time_limit=60 * 60 * 1000)
def build_tenant_vector_index(tenant_id: str) -> None:
    """Give a growing tenant its own partial GIN and HNSW indexes once large enough for each (no-op when
    they exist or it is too small)."""
    vector_index.ensure_tenant_index(uuid.UUID(tenant_id))


@dramatiq.actor(queue_name="ingest", max_retries=_settings.ingest_max_retries, time_limit=10 * 60 * 1000,
                min_backoff=1_000, max_backoff=30_000)
def reindex_faq_row(tenant_id: str, document_id: str, source_ref: str) -> None:
    """Re-embed one uploaded FAQ row after an admin edited, disabled or reverted it (safe to run twice)."""
    bind_log_context(tenant_id=tenant_id, document_id=document_id)
    result = row_indexing.reindex_row(uuid.UUID(tenant_id), uuid.UUID(document_id), source_ref)
    log.info("faq row job finished", extra={"source_ref": source_ref, "result": result})


# On the analytics queue: a run measures accuracy and may take minutes, so it never waits behind
# (or delays) uploads being indexed.
_EVALUATION_RETRIES = 2


@dramatiq.actor(queue_name="analytics", max_retries=_EVALUATION_RETRIES, time_limit=60 * 60 * 1000)
def score_evaluation_run(tenant_id: str, run_id: str) -> None:
    """Score a queued evaluation run; the run row says queued, running, done or failed."""
    tenant, run = uuid.UUID(tenant_id), uuid.UUID(run_id)
    bind_log_context(tenant_id=tenant_id, run_id=run_id)
    try:
        result = evaluation.score_run(tenant, run)
    except Exception as exc:
        if _retries_left(_EVALUATION_RETRIES) <= 0:
            # The type only: details (paths, SQL) go to the log, not to the tenant.
            evaluation.fail_run(tenant, run, f"Scoring failed after several attempts ({type(exc).__name__}). "
                                             "Upload the question set again or contact support if it keeps failing.")
            log.exception("evaluation run failed permanently")
            return
        raise
    log.info("evaluation run finished", extra={"result": result})
