"""Dramatiq actors of the `analytics` queue. They take ids, re-read the database, and are idempotent:
rollups are upserts of recomputed days, a training run replaces scores, a gap refresh swaps batches."""

from __future__ import annotations

import importlib
import logging
import threading
import uuid
from types import ModuleType

import dramatiq

import core.broker  # noqa: F401 - installs Kefu's broker before the actors below register
from analytics import rollups
from analytics.tenants import all_tenant_ids
from core.db import tenant_session_sync

log = logging.getLogger(__name__)
_HOUR_MS = 60 * 60 * 1000
_LAZY_IMPORTS = threading.Lock()


def lazy_module(name: str) -> ModuleType:
    """Import an analytics module on first use, one worker thread at a time.

    scikit-learn loads only in the actors that use it; two worker threads importing it at once see a
    partially initialised `sklearn.base` and fail with ImportError, so the first imports are serialised.
    """
    with _LAZY_IMPORTS:
        return importlib.import_module(name)


@dramatiq.actor(queue_name="analytics", max_retries=3, time_limit=_HOUR_MS)
def refresh_rollups(tenant_id: str | None = None, full: bool = False) -> None:
    """Bring a tenant's daily rollups up to date; with no tenant, enqueue one refresh per tenant."""
    if tenant_id is None:
        for tenant in all_tenant_ids():
            refresh_rollups.send(str(tenant), full)
        return
    tenant = uuid.UUID(tenant_id)
    with tenant_session_sync(tenant) as session:
        days = rollups.refresh(session, tenant, full=full)
    log.info("rollups refreshed", extra={"tenant_id": tenant_id, "days": len(days)})


@dramatiq.actor(queue_name="analytics", max_retries=2, time_limit=2 * _HOUR_MS)
def train_satisfaction(tenant_id: str) -> None:
    """Train the tenant's satisfaction model on its labelled conversations and score every conversation."""
    run = lazy_module("analytics.training").train_and_score(uuid.UUID(tenant_id))
    log.info("satisfaction model stored", extra={"tenant_id": tenant_id, "status": run.status,
                                                 "n_labels": run.n_labels, "cv_auc": run.cv_auc})


@dramatiq.actor(queue_name="analytics", max_retries=2, time_limit=_HOUR_MS)
def refresh_knowledge_gaps(tenant_id: str) -> None:
    """Cluster the tenant's recent unanswered and low-rated questions into topics."""
    topics = lazy_module("analytics.gap_topics").refresh_topics(uuid.UUID(tenant_id))
    log.info("knowledge gaps clustered", extra={"tenant_id": tenant_id, "topics": topics})


@dramatiq.actor(queue_name="analytics", max_retries=2, time_limit=_HOUR_MS)
def apply_retention(tenant_id: str) -> None:
    """Delete the tenant's conversations older than its retention period (analytics.privacy)."""
    from analytics.privacy import apply_retention as apply

    erased = apply(uuid.UUID(tenant_id))
    if erased.conversations:
        log.info("retention applied", extra={"tenant_id": tenant_id, "conversations": erased.conversations})


@dramatiq.actor(queue_name="analytics", max_retries=0, time_limit=10 * 60 * 1000)
def for_every_tenant(actor_name: str) -> None:
    """Fan a per-tenant analytics job out to every tenant (used by the schedule)."""
    actor = {"train_satisfaction": train_satisfaction, "refresh_knowledge_gaps": refresh_knowledge_gaps,
             "apply_retention": apply_retention}[actor_name]
    for tenant in all_tenant_ids():
        actor.send(str(tenant))
