"""The admin's analytics writes: ask a worker to retrain the satisfaction model or re-cluster knowledge gaps,
and the privacy operations (erase a visitor's or a verified user's data, apply the retention period).

Retraining and clustering are jobs on the `analytics` queue; the admin app shows their results when
they finish. Erasures happen in the request's transaction, audited.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from analytics import privacy
from analytics.tasks import refresh_knowledge_gaps, refresh_rollups, train_satisfaction
from core import audit
from core.audit import Actor
from core.db import tenant_session_sync
from core.jobs import enqueue_sync
from core.tenancy import adopt_timezone as core_adopt_timezone
from core.tenancy import set_timezone

log = logging.getLogger(__name__)

_QUEUE_DOWN = "The work queue is unreachable; try again shortly."


def request_retrain(tenant_id: uuid.UUID) -> None:
    """Train the tenant's satisfaction model again and rescore its conversations (in a worker)."""
    enqueue_sync(train_satisfaction, str(tenant_id), unavailable=_QUEUE_DOWN)


def request_reclustering(tenant_id: uuid.UUID) -> None:
    """Cluster the tenant's recent unanswered questions into topics again (in a worker)."""
    enqueue_sync(refresh_knowledge_gaps, str(tenant_id), unavailable=_QUEUE_DOWN)


def change_timezone(tenant_id: uuid.UUID, name: str, *, actor: Actor | None = None) -> str:
    """Store the tenant's time zone and recompute its daily rollups in it (every day moves).

    If the queue is unreachable the zone is stored all the same: the scheduled refresh sees rows of
    the old zone and recomputes them (analytics.rollups).
    """
    stored = set_timezone(tenant_id, name, actor=actor)
    recompute_days(tenant_id)
    return stored


def adopt_timezone(tenant_id: uuid.UUID, name: str, *, actor: Actor | None = None) -> str | None:
    """The browser's time zone for a tenant that never chose one (core.tenancy), its days recomputed in it."""
    adopted = core_adopt_timezone(tenant_id, name, actor=actor)
    if adopted:
        recompute_days(tenant_id)
    return adopted


def recompute_days(tenant_id: uuid.UUID) -> None:
    """Queue a full rollup refresh (the tenant's zone changed); if the queue is down, the scheduled one does it."""
    try:
        refresh_rollups.send(str(tenant_id), True)
    except Exception:  # the broker refused; the next scheduled refresh sees the old zone's rows
        log.warning("could not queue the rollup refresh after a time zone change", exc_info=True)


def request_refresh(tenant_id: uuid.UUID) -> None:
    """Bring the tenant's reports up to date: rollups, satisfaction scores and knowledge gaps (in workers)."""
    for actor in (refresh_rollups, train_satisfaction, refresh_knowledge_gaps):
        enqueue_sync(actor, str(tenant_id), unavailable=_QUEUE_DOWN)


# --- privacy operations: erasure on request, retention (analytics.privacy) ------------------------

def erase_visitor(tenant_id: uuid.UUID, visitor_id: str, *, actor: Actor | None = None) -> privacy.Erased:
    """Delete one widget visitor's conversations and everything derived from them; returns the counts."""
    with tenant_session_sync(tenant_id) as session:
        erased = privacy.erase_visitor(session, tenant_id, visitor_id)
        audit.record(session, tenant_id, actor, "privacy.erase_visitor", visitor_id, erased.public())
    privacy.forget_after_commit(tenant_id, erased)
    return erased


def erase_user(tenant_id: uuid.UUID, user_id: str, *, actor: Actor | None = None) -> privacy.Erased:
    """Delete one verified user's conversations (every device) and everything derived from them."""
    with tenant_session_sync(tenant_id) as session:
        erased = privacy.erase_user(session, tenant_id, user_id)
        audit.record(session, tenant_id, actor, "privacy.erase_user", user_id, erased.public())
    privacy.forget_after_commit(tenant_id, erased)
    return erased


def apply_retention(tenant_id: uuid.UUID, *, now: datetime | None = None) -> privacy.Erased:
    """Delete the tenant's conversations older than its retention period now (the worker does it hourly)."""
    return privacy.apply_retention(tenant_id, now=now)
