"""Training a tenant's satisfaction model on its own conversations, then scoring every conversation.

Labels come from what customers said explicitly: CSAT 4–5 = satisfied, 1–2 = dissatisfied; for
CSAT 3 or no CSAT, any thumbs-down = dissatisfied, else any thumbs-up = satisfied; otherwise no
label. Behaviour features are what the platform measured (turns, fallbacks, failed questions,
hand-off, mean reply latency) — never the thumbs themselves, which would leak the label.

Below `settings.satisfaction_min_labels` labelled conversations, or fewer than
`satisfaction.MIN_LABELS_PER_CLASS` of either class, the tenant gets the documented
`default_model()` (status 'default', no AUC) — still scoring every conversation.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from analytics import satisfaction
from core.db import tenant_session_sync
from core.models import ConversationScore, ModelRun
from core.settings import get_settings

MAX_TRAINING_CONVERSATIONS = 20_000  # the most recent labelled ones; enough for a linear text model
SCORE_BATCH = 2_000
TOP_DRIVERS = 10

_FACTS = """
SELECT c.id, c.csat, c.handoff,
       EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id AND f.rating = -1) AS down,
       EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id AND f.rating = 1) AS up
FROM conversations c WHERE c.tenant_id = :tenant_id
"""
_LABELLED_SQL = text(_FACTS + """
  AND ((c.csat IS NOT NULL AND c.csat <> 3) OR EXISTS (SELECT 1 FROM feedback f WHERE f.conversation_id = c.id))
ORDER BY c.started_at DESC LIMIT :limit
""")
_PAGE_SQL = text(_FACTS + " AND c.id > :after ORDER BY c.id LIMIT :limit")
_MESSAGES_SQL = text("""
SELECT conversation_id, role, text, status, answered, latency_ms FROM messages
WHERE tenant_id = :tenant_id AND conversation_id = ANY(:ids) ORDER BY conversation_id, created_at
""")


@dataclass(frozen=True)
class TrainingRun:
    run_id: uuid.UUID
    status: str  # 'trained' | 'default'
    n_labels: int
    cv_auc: float | None
    scored: int


def label(csat: int | None, down: bool, up: bool) -> int | None:
    """1 = satisfied, 0 = dissatisfied, None = the customer did not say."""
    if csat is not None and csat != 3:
        return int(csat >= 4)
    if down:
        return 0
    if up:
        return 1
    return None


def conversation_inputs(session: Session, tenant_id: uuid.UUID, facts: list[Any]) -> tuple[list, list]:
    """Dialogues and behaviour rows for the given conversations (same order)."""
    turns: dict[Any, list[dict[str, str]]] = defaultdict(list)
    stats: dict[Any, dict[str, float]] = defaultdict(lambda: {"turns": 0, "fallbacks": 0, "failed": 0})
    latencies: dict[Any, list[int]] = defaultdict(list)
    ids = [f.id for f in facts]
    for m in session.execute(_MESSAGES_SQL, {"tenant_id": str(tenant_id), "ids": ids}):
        customer = m.role == "customer"
        turns[m.conversation_id].append({"role": "customer" if customer else "agent", "text": m.text or ""})
        row = stats[m.conversation_id]
        if customer:
            row["turns"] += 1
            row["failed"] += m.status == "failed"
        elif m.role == "assistant":
            row["fallbacks"] += m.answered is not True
            if m.latency_ms is not None:
                latencies[m.conversation_id].append(m.latency_ms)
    behaviour = []
    for f in facts:
        row = dict(stats[f.id])
        row["handed_off"] = float(bool(f.handoff))
        lat = latencies.get(f.id)
        row["mean_latency_ms"] = sum(lat) / len(lat) if lat else None
        behaviour.append(row)
    return [turns[i] for i in ids], behaviour


def _fit(tenant_id: uuid.UUID) -> tuple[satisfaction.SatisfactionModel, int, float | None]:
    with tenant_session_sync(tenant_id) as session:
        facts = session.execute(_LABELLED_SQL, {"tenant_id": str(tenant_id),
                                                "limit": MAX_TRAINING_CONVERSATIONS}).all()
        labelled = [(f, y) for f in facts if (y := label(f.csat, f.down, f.up)) is not None]
        dialogues, behaviour = conversation_inputs(session, tenant_id, [f for f, _ in labelled])
    labels = [y for _, y in labelled]
    if len(labels) < get_settings().satisfaction_min_labels or not satisfaction.has_enough_labels(labels):
        return satisfaction.default_model(), len(labels), None
    model = satisfaction.SatisfactionModel()
    auc = model.cross_validated_auc(dialogues, labels, behaviour)
    return model.fit(dialogues, labels, behaviour), len(labels), auc


def _pages(tenant_id: uuid.UUID) -> Iterator[tuple[list[Any], list, list]]:
    after = uuid.UUID(int=0)
    while True:
        with tenant_session_sync(tenant_id) as session:
            facts = session.execute(_PAGE_SQL, {"tenant_id": str(tenant_id), "after": after,
                                                "limit": SCORE_BATCH}).all()
            if not facts:
                return
            dialogues, behaviour = conversation_inputs(session, tenant_id, facts)
        yield facts, dialogues, behaviour
        after = facts[-1].id


def train_and_score(tenant_id: uuid.UUID) -> TrainingRun:
    """Fit (or fall back to the default model), store the run, and score every conversation."""
    model, n_labels, auc = _fit(tenant_id)
    status = "trained" if model.kind == "trained" else "default"
    run_id = uuid.uuid4()
    with tenant_session_sync(tenant_id) as session:
        session.add(ModelRun(id=run_id, tenant_id=tenant_id, kind="satisfaction", status=status, n_labels=n_labels,
                             cv_auc=auc, drivers=model.drivers(TOP_DRIVERS),
                             metrics={"min_labels": get_settings().satisfaction_min_labels},
                             model=model.to_bytes()))
    scored = 0
    for facts, dialogues, behaviour in _pages(tenant_id):
        probabilities = model.predict_proba(dialogues, behaviour)
        rows = [{"tenant_id": tenant_id, "conversation_id": f.id, "predicted_satisfaction": float(p),
                 "model_run_id": run_id} for f, p in zip(facts, probabilities, strict=True)]
        statement = insert(ConversationScore).values(rows)
        with tenant_session_sync(tenant_id) as session:
            session.execute(statement.on_conflict_do_update(
                index_elements=["conversation_id"],
                set_={"predicted_satisfaction": statement.excluded.predicted_satisfaction,
                      "model_run_id": run_id, "scored_at": statement.excluded.scored_at}))
        scored += len(rows)
    return TrainingRun(run_id, status, n_labels, auc, scored)
