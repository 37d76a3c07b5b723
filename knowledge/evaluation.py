"""Evaluation runs: score a tenant's labelled question set against its own knowledge, and keep it.

The same retrieval and the same calibrated confidence the chat engine uses, so a run says what the
bot would do: top-1 accuracy and MRR of retrieval, the answer rate at the tenant's confidence
threshold, the hand-off rate on questions marked out of scope, and every failure with what came
back instead. The Dash "Accuracy" page and `kefu eval retrieval` both go through here.

The Dash page queues a run (`queue_evaluation`) and a worker scores it (`score_run`, run by the
`score_evaluation_run` actor): queued → running → done | failed, with the error on the run.
`kefu eval retrieval` scores in the foreground (`run_evaluation`).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.db import tenant_session_sync
from core.errors import KefuError, NotFound, ValidationFailed
from core.models import EvaluationFailure, EvaluationRun, Tenant
from core.settings import get_settings
from knowledge import thresholds, vector_index
from knowledge.blobstore import get_blob_store
from knowledge.confidence import DEFAULT_THRESHOLD, confidence
from knowledge.evaluation_set import LabelledQuestion, parse_question_set
from knowledge.hits import Hit
from knowledge.retrieval import candidates, retrieve_sync

TOP_K = 10
_TEXT_CHARS = 500

RUN_COLUMNS = ["run_id", "name", "status", "error", "created_at", "finished_at", "questions", "in_scope", "top1",
               "mrr", "recall_at_5", "answer_rate", "handoff_rate", "accuracy", "threshold", "failures"]
FAILURE_COLUMNS = ["row", "question", "expected", "kind", "top_ref", "top_text", "rank", "confidence"]


@dataclass(frozen=True)
class Outcome:
    """What retrieval and the confidence gate did with one labelled question."""

    item: LabelledQuestion
    hits: list[Hit]
    rank: int | None  # 1-based rank of the first right entry in the top 10
    confidence: float
    answered: bool

    @property
    def correct(self) -> bool:
        if self.item.in_scope:
            return self.answered and self.rank == 1
        return not self.answered

    @property
    def failure_kind(self) -> str | None:
        if self.item.in_scope:
            if self.rank != 1:
                return "wrong_top1"
            return None if self.answered else "not_answered"
        return "answered_out_of_scope" if self.answered else None


def is_right(hit: Hit, expected: frozenset[str]) -> bool:
    """A hit answers the question if its entry id (source_ref) or its category is expected."""
    return hit.source_ref in expected or str(hit.metadata.get("category") or "") in expected


def evaluate(tenant_id: uuid.UUID, items: list[LabelledQuestion], threshold: float) -> list[Outcome]:
    """Run every question through the product's retrieval and confidence (no database writes)."""
    outcomes = []
    for item in items:
        hits = retrieve_sync(tenant_id, item.question, TOP_K)
        rank = next((i for i, hit in enumerate(hits, start=1) if is_right(hit, item.expected)), None)
        score = confidence(hits)
        outcomes.append(Outcome(item, hits, rank, score, bool(hits) and score >= threshold))
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict[str, float | int | None]:
    """Top-1, MRR@10 and recall@5 over in-scope questions; answer and hand-off rates; accuracy."""
    in_scope = [o for o in outcomes if o.item.in_scope]
    out_scope = [o for o in outcomes if not o.item.in_scope]

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    return {
        "questions": len(outcomes),
        "in_scope": len(in_scope),
        "top1": mean([float(o.rank == 1) for o in in_scope]),
        "mrr": mean([1.0 / o.rank if o.rank else 0.0 for o in in_scope]),
        "recall_at_5": mean([float(o.rank is not None and o.rank <= 5) for o in in_scope]),
        "answer_rate": mean([float(o.answered) for o in in_scope]),
        "handoff_rate": mean([float(not o.answered) for o in out_scope]),
        "accuracy": mean([float(o.correct) for o in outcomes]) or 0.0,
        "failures": sum(o.failure_kind is not None for o in outcomes),
    }


def tenant_threshold(tenant_id: uuid.UUID) -> float:
    """The confidence threshold the tenant's bot answers at (its bot settings)."""
    with tenant_session_sync(tenant_id) as session:
        stored = session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
    return float(((stored or {}).get("bot") or {}).get("confidence_threshold", DEFAULT_THRESHOLD))


def run_evaluation(tenant_id: uuid.UUID, csv_bytes: bytes, *, name: str | None = None,
                   threshold: float | None = None) -> uuid.UUID:
    """Score a labelled question set (CSV) now and store the run with its failures; returns the run id.

    Used by `kefu eval retrieval`. Retrieval runs outside any transaction; the run and all its
    failures are written in one transaction at the end, so a failed run leaves nothing behind.
    """
    items = parse_question_set(csv_bytes)
    threshold, name = _checked(tenant_id, items, name, threshold)
    run = EvaluationRun(id=uuid.uuid4(), tenant_id=tenant_id, name=name, threshold=threshold, status="running")
    started = time.perf_counter()
    outcomes = evaluate(tenant_id, items, threshold)
    with tenant_session_sync(tenant_id) as session:
        session.add(run)
        session.flush()
        _store_results(session, run, outcomes, time.perf_counter() - started)
    return run.id


def store_queued_run(tenant_id: uuid.UUID, csv_bytes: bytes, *, name: str | None = None,
                     threshold: float | None = None) -> uuid.UUID:
    """Check a labelled set, keep it and a `queued` run for a worker to score; returns the run id.

    The file is checked here, so a malformed set is refused at once with what to fix; the worker
    (`knowledge.tasks.score_evaluation_run`, queued by `knowledge.commands.queue_evaluation`) scores it.
    """
    items = parse_question_set(csv_bytes)
    threshold, name = _checked(tenant_id, items, name, threshold)
    blob_key = f"tenants/{tenant_id}/evaluations/{hashlib.sha256(csv_bytes).hexdigest()}.csv"
    get_blob_store().put(blob_key, csv_bytes)  # content-addressed: the same set is stored once
    run_id = uuid.uuid4()
    with tenant_session_sync(tenant_id) as session:
        session.add(EvaluationRun(id=run_id, tenant_id=tenant_id, name=name, threshold=threshold,
                                  status="queued", input_blob_key=blob_key, questions=len(items)))
    return run_id


def score_run(tenant_id: uuid.UUID, run_id: uuid.UUID) -> str:
    """Score a queued run (the worker's job); idempotent: a finished run is left alone.

    A redelivered message finds the run `running` and scores it again, replacing any failures of
    the earlier attempt in the same transaction that stores the scores.
    """
    with tenant_session_sync(tenant_id) as session:
        run = session.get(EvaluationRun, run_id, with_for_update=True)
        if run is None or run.status in ("done", "failed"):
            return "skipped"
        if run.input_blob_key is None:
            run.status, run.error = "failed", "The question set of this run was not kept; upload it again."
            return "failed"
        run.status, run.started_at, run.error = "running", datetime.now(UTC), None
        blob_key, threshold = run.input_blob_key, run.threshold
    try:
        items = parse_question_set(get_blob_store().get(blob_key))
    except KefuError as exc:
        fail_run(tenant_id, run_id, exc.detail)
        return "failed"
    started = time.perf_counter()
    outcomes = evaluate(tenant_id, items, threshold)
    with tenant_session_sync(tenant_id) as session:
        run = session.get(EvaluationRun, run_id, with_for_update=True)
        if run is None or run.status != "running":
            return "skipped"  # deleted or finished by another delivery meanwhile
        session.execute(delete(EvaluationFailure).where(EvaluationFailure.run_id == run_id))
        _store_results(session, run, outcomes, time.perf_counter() - started)
    return "done"


def fail_run(tenant_id: uuid.UUID, run_id: uuid.UUID, message: str) -> None:
    """Mark a run failed with a message a person can act on (a finished run stays as it is)."""
    with tenant_session_sync(tenant_id) as session:
        run = session.get(EvaluationRun, run_id, with_for_update=True)
        if run is None or run.status == "done":
            return
        run.status, run.error, run.finished_at = "failed", message[:2000], datetime.now(UTC)


def _checked(tenant_id: uuid.UUID, items: list[LabelledQuestion], name: str | None,
             threshold: float | None) -> tuple[float, str]:
    if threshold is None:
        threshold = tenant_threshold(tenant_id)
    elif not 0.0 <= threshold <= 1.0:
        raise ValidationFailed("threshold must be between 0 and 1.")
    name = (name or "").strip() or f"{len(items)} questions"
    if len(name) > 200:
        raise ValidationFailed("The run name is longer than 200 characters.")
    return threshold, name


def _store_results(session: Session, run: EvaluationRun, outcomes: list[Outcome], seconds: float) -> None:
    settings = get_settings()
    summary = summarise(outcomes)
    for key, value in summary.items():
        setattr(run, key, value)
    indexed = vector_index.has_index_uncached(run.tenant_id)
    # The parameters the run's searches used: a tenant searched through its partial HNSW index gets
    # fewer candidates per ranking (`knowledge.retrieval.candidates`) than the setting says.
    run.metrics = {"embedder": settings.embedder, "lexical_weight": settings.lexical_weight,
                   "question_overlap_weight": settings.question_overlap_weight,
                   "query_centre_share": settings.query_centre_share, "vector_index": indexed,
                   "search_candidates": candidates(indexed, TOP_K),
                   "seconds": round(seconds, 3),
                   # Per question: its confidence and whether the top entry was right, for the
                   # precision/coverage curve over thresholds (`knowledge.thresholds`).
                   "threshold_points": thresholds.outcome_points(
                       [(o.confidence, o.item.in_scope, o.rank == 1) for o in outcomes])}
    run.status, run.error, run.finished_at = "done", None, datetime.now(UTC)
    session.add_all(_failure_rows(run.tenant_id, run.id, outcomes))


def _failure_rows(tenant_id: uuid.UUID, run_id: uuid.UUID, outcomes: list[Outcome]) -> list[EvaluationFailure]:
    rows = []
    for o in outcomes:
        kind = o.failure_kind
        if kind is None:
            continue
        top = o.hits[0] if o.hits else None
        rows.append(EvaluationFailure(
            tenant_id=tenant_id, run_id=run_id, row=o.item.row, question=o.item.question,
            expected=" | ".join(sorted(o.item.expected)), kind=kind,
            top_ref=top.source_ref if top else None, top_text=top.text[:_TEXT_CHARS] if top else None,
            rank=o.rank, confidence=o.confidence,
        ))
    return rows


def list_runs(session: Session, tenant_id: uuid.UUID) -> pd.DataFrame:
    """The tenant's evaluation runs, newest first."""
    runs = session.scalars(
        select(EvaluationRun).where(EvaluationRun.tenant_id == tenant_id).order_by(EvaluationRun.created_at.desc())
    ).all()
    return pd.DataFrame(
        [[r.id, r.name, r.status, r.error, r.created_at, r.finished_at, r.questions, r.in_scope, r.top1, r.mrr,
          r.recall_at_5, r.answer_rate, r.handoff_rate, r.accuracy, r.threshold, r.failures] for r in runs],
        columns=RUN_COLUMNS,
    )


def threshold_report(session: Session, tenant_id: uuid.UUID, run_id: uuid.UUID,
                     target_precision: float = thresholds.DEFAULT_TARGET) -> thresholds.ThresholdReport:
    """Precision and coverage at every threshold for one finished run, and the threshold recommended
    for `target_precision`; NotFound for another tenant's or no run, 422 for a run without them."""
    if not 0.5 <= target_precision <= 1.0:
        raise ValidationFailed("target_precision must be between 0.5 and 1 (e.g. 0.9 for 90%).")
    run = session.scalars(
        select(EvaluationRun).where(EvaluationRun.tenant_id == tenant_id, EvaluationRun.id == run_id)).first()
    if run is None:
        raise NotFound(f"No evaluation run {run_id} in this tenant.")
    if run.status != "done":
        raise ValidationFailed(f"The run is {run.status}; its thresholds are reported once it is done.")
    points = (run.metrics or {}).get("threshold_points")
    if points is None:
        raise ValidationFailed("This run was scored before thresholds were reported; upload its question set again.")
    return thresholds.report(points, target_precision)


def run_failures(session: Session, tenant_id: uuid.UUID, run_id: uuid.UUID) -> pd.DataFrame:
    """The questions one run got wrong, in file order; NotFound for another tenant's or no run."""
    exists = session.scalar(
        select(EvaluationRun.id).where(EvaluationRun.tenant_id == tenant_id, EvaluationRun.id == run_id)
    )
    if exists is None:
        raise NotFound(f"No evaluation run {run_id} in this tenant.")
    failures = session.scalars(
        select(EvaluationFailure)
        .where(EvaluationFailure.tenant_id == tenant_id, EvaluationFailure.run_id == run_id)
        .order_by(EvaluationFailure.row)
    ).all()
    return pd.DataFrame(
        [[f.row, f.question, f.expected, f.kind, f.top_ref, f.top_text, f.rank, f.confidence] for f in failures],
        columns=FAILURE_COLUMNS,
    )
