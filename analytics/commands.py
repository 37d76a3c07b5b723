"""The admin's analytics writes: ask a worker to retrain the satisfaction model or re-cluster knowledge gaps.

Both are jobs on the `analytics` queue; the admin app shows their results when they finish.
"""

from __future__ import annotations

import uuid

from analytics.tasks import refresh_knowledge_gaps, refresh_rollups, train_satisfaction
from core.jobs import enqueue_sync

_QUEUE_DOWN = "The work queue is unreachable; try again shortly."


def request_retrain(tenant_id: uuid.UUID) -> None:
    """Train the tenant's satisfaction model again and rescore its conversations (in a worker)."""
    enqueue_sync(train_satisfaction, str(tenant_id), unavailable=_QUEUE_DOWN)


def request_reclustering(tenant_id: uuid.UUID) -> None:
    """Cluster the tenant's recent unanswered questions into topics again (in a worker)."""
    enqueue_sync(refresh_knowledge_gaps, str(tenant_id), unavailable=_QUEUE_DOWN)


def request_refresh(tenant_id: uuid.UUID) -> None:
    """Bring the tenant's reports up to date: rollups, satisfaction scores and knowledge gaps (in workers)."""
    for actor in (refresh_rollups, train_satisfaction, refresh_knowledge_gaps):
        enqueue_sync(actor, str(tenant_id), unavailable=_QUEUE_DOWN)
