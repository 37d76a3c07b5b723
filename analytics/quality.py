"""How well the bot serves a tenant: live accuracy, satisfaction model, knowledge gaps, service status."""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from analytics.activity import latency_percentiles, period_params, ratio
from analytics.period import Period

ACCURACY_COLUMNS = ["day", "thumbs_up", "thumbs_down", "up_rate", "answered", "fallbacks"]
GAP_COLUMNS = ["topic_id", "label", "count", "examples"]
GAP_EXAMPLES = 5

_ACCURACY_SQL = text("""
SELECT day, thumbs_up, thumbs_down, answered, fallbacks
FROM analytics_daily WHERE tenant_id = :tenant_id AND day BETWEEN :start AND :end
""")


def live_accuracy(session: Session, tenant_id: uuid.UUID | str, period: Period) -> pd.DataFrame:
    """Per day: thumbs on the day's replies, their up rate, and answered vs. fallback replies."""
    rows = {r.day: r for r in session.execute(_ACCURACY_SQL, period_params(tenant_id, period))}
    out = []
    for day in period.each_day():
        r = rows.get(day)
        up, down = (int(r.thumbs_up), int(r.thumbs_down)) if r else (0, 0)
        out.append({"day": day, "thumbs_up": up, "thumbs_down": down, "up_rate": ratio(up, up + down),
                    "answered": int(r.answered) if r else 0, "fallbacks": int(r.fallbacks) if r else 0})
    return pd.DataFrame(out, columns=ACCURACY_COLUMNS)


_LATEST_RUN_SQL = text("""
SELECT status, created_at, n_labels, cv_auc, drivers FROM model_runs
WHERE tenant_id = :tenant_id AND kind = 'satisfaction' ORDER BY created_at DESC LIMIT 1
""")


def satisfaction_summary(session: Session, tenant_id: uuid.UUID | str) -> dict[str, Any]:
    """The tenant's current satisfaction model: 'trained' on its labels, or the documented 'default'."""
    run = session.execute(_LATEST_RUN_SQL, {"tenant_id": str(tenant_id)}).first()
    if run is None:
        return {"status": "default", "trained_at": None, "n_labels": 0, "cv_auc": None, "drivers": []}
    return {"status": run.status, "trained_at": run.created_at, "n_labels": int(run.n_labels),
            "cv_auc": run.cv_auc, "drivers": list(run.drivers or [])}


_GAPS_SQL = text("""
WITH batch AS (SELECT max(clustered_at) AS at FROM knowledge_gap_topics WHERE tenant_id = :tenant_id)
SELECT t.id::text AS topic_id, t.label, t.rank, count(q.id) AS count,
       (array_agg(q.text ORDER BY q.asked_at DESC))[1 : :examples] AS examples
FROM knowledge_gap_topics t JOIN batch ON t.clustered_at = batch.at
JOIN knowledge_gap_questions q ON q.topic_id = t.id AND q.asked_at >= :lo AND q.asked_at < :hi
WHERE t.tenant_id = :tenant_id
GROUP BY t.id, t.label, t.rank
ORDER BY count(q.id) DESC, t.rank
""")


def knowledge_gaps(session: Session, tenant_id: uuid.UUID | str, period: Period) -> pd.DataFrame:
    """Topics of the latest clustering, counting only their questions asked within the period."""
    rows = session.execute(_GAPS_SQL, {**period_params(tenant_id, period), "examples": GAP_EXAMPLES}).mappings().all()
    return pd.DataFrame([{"topic_id": r["topic_id"], "label": r["label"], "count": int(r["count"]),
                          "examples": list(r["examples"] or [])} for r in rows], columns=GAP_COLUMNS)


_RATES_SQL = text("""
SELECT coalesce(sum(failed), 0) AS failed, coalesce(sum(customer_messages), 0) AS questions,
       coalesce(sum(fallbacks), 0) AS fallbacks, coalesce(sum(replies), 0) AS replies
FROM analytics_daily WHERE tenant_id = :tenant_id AND day BETWEEN :start AND :end
""")

_DOCUMENTS_SQL = text("""
SELECT status, count(*) AS n FROM documents WHERE tenant_id = :tenant_id
  AND status IN ('queued', 'processing', 'failed') GROUP BY status
""")


def service_status(session: Session, tenant_id: uuid.UUID | str, period: Period) -> dict[str, Any]:
    """Error and fallback rates and reply latency for this tenant's traffic, its ingestion backlog,
    and how many jobs wait on each work queue (shared by all tenants)."""
    params = period_params(tenant_id, period)
    rates = session.execute(_RATES_SQL, params).mappings().one()
    p50, p95 = latency_percentiles(session, params)
    documents = {r.status: int(r.n) for r in session.execute(_DOCUMENTS_SQL, params)}
    return {
        "error_rate": ratio(rates["failed"], rates["questions"]),
        "fallback_rate": ratio(rates["fallbacks"], rates["replies"]),
        "llm_latency_p50_ms": p50,
        "llm_latency_p95_ms": p95,
        "documents_queued": documents.get("queued", 0),
        "documents_processing": documents.get("processing", 0),
        "documents_failed": documents.get("failed", 0),
        "queue_depths": queue_depths(),
    }


def queue_depths() -> dict[str, int]:
    """Messages not yet finished (waiting, delayed or in progress) per Dramatiq queue."""
    import dramatiq

    from core.broker import QUEUES, setup_broker

    broker = setup_broker()
    depths: dict[str, int] = {}
    namespace = getattr(broker, "namespace", None)
    if namespace is not None:  # the Redis broker: each queue keeps its messages in a hash
        client = broker.client  # type: ignore[attr-defined]
        pipe = client.pipeline()
        for queue in QUEUES:
            pipe.hlen(f"{namespace}:{queue}.msgs")
            pipe.hlen(f"{namespace}:{queue}.DQ.msgs")
        counts = pipe.execute()
        return {queue: int(counts[2 * i] + counts[2 * i + 1]) for i, queue in enumerate(QUEUES)}
    if isinstance(broker, dramatiq.brokers.stub.StubBroker):
        for queue in QUEUES:
            depths[queue] = broker.queues[queue].qsize() if queue in broker.queues else 0
    return depths
