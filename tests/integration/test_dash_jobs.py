"""Buttons that queue analytics jobs: admins queue them for their own tenant, analysts cannot."""

from __future__ import annotations

import dramatiq
import pytest

from core.errors import PermissionDenied
from dash_app.pages import gaps, satisfaction
from tests.conftest import STUB_BROKER
from tests.support.dash_users import analyst_of, owner_of


@pytest.fixture
def analytics_queue():
    """The analytics jobs queued during the test (actor, args), then the queue is emptied again."""
    STUB_BROKER.flush("analytics")

    def queued() -> list[tuple[str, tuple]]:
        return [(m.actor_name, tuple(m.args)) for m in
                (dramatiq.Message.decode(raw) for raw in list(STUB_BROKER.queues["analytics"].queue))]

    yield queued
    STUB_BROKER.flush("analytics")


def test_retrain_and_recluster_queue_the_tenants_jobs(tenant, analytics_queue):
    satisfaction.request_retrain(owner_of(tenant))
    gaps.request_reclustering(owner_of(tenant))
    assert analytics_queue() == [("train_satisfaction", (str(tenant.id),)),
                                 ("refresh_knowledge_gaps", (str(tenant.id),))]


def test_analysts_queue_nothing(tenant, analytics_queue):
    with pytest.raises(PermissionDenied):
        satisfaction.request_retrain(analyst_of(tenant))
    with pytest.raises(PermissionDenied):
        gaps.request_reclustering(analyst_of(tenant))
    assert analytics_queue() == []
