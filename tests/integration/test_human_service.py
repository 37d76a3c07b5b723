"""Human service figures: hand-off volume, first human response and resolve times, per agent and per day."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from analytics import exports, human_service
from analytics.period import Period
from core.db import tenant_session_sync
from core.tenancy import add_user
from dash_app.pages import overview
from tests.support.dash_users import owner_of
from tests.support.service_seed import agent_message, seed_handoff

pytestmark = pytest.mark.integration
DAY1, DAY2 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC), datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 4))


def _handoff(session, tenant_id, at, *, agent=None, reply_after=None, resolve_after=None, early_reply=False):
    conversation_id = seed_handoff(session, tenant_id, at, agent=agent, resolve_after=resolve_after)
    if early_reply:  # an agent message before the hand-off (an earlier takeover) does not count
        agent_message(session, tenant_id, conversation_id, at - timedelta(hours=1), "earlier")
    for n, after in enumerate([reply_after, reply_after and reply_after * 3] if reply_after else []):
        agent_message(session, tenant_id, conversation_id, at + after, f"reply {n}", agent)


@pytest.fixture
def served(tenant, other_tenant):
    with tenant_session_sync(tenant.id) as session:
        wang = add_user(session, tenant.id, f"wang-{uuid.uuid4().hex[:6]}@example.com", "password-123", "agent",
                        display_name="小王")
        li = add_user(session, tenant.id, f"li-{uuid.uuid4().hex[:6]}@example.com", "password-123", "agent",
                      display_name="Li")
        session.flush()
        _handoff(session, tenant.id, DAY1, agent=wang, reply_after=timedelta(seconds=30),
                 resolve_after=timedelta(minutes=10), early_reply=True)
        _handoff(session, tenant.id, DAY1 + timedelta(hours=2), agent=wang, reply_after=timedelta(seconds=90))
        _handoff(session, tenant.id, DAY2, agent=li, reply_after=timedelta(minutes=5),
                 resolve_after=timedelta(hours=1))
        _handoff(session, tenant.id, DAY2 + timedelta(hours=1))  # waiting: nobody took it
    with tenant_session_sync(other_tenant.id) as session:
        _handoff(session, other_tenant.id, DAY1, reply_after=timedelta(seconds=1))
    return tenant


def test_per_agent_volume_and_times(served) -> None:
    with tenant_session_sync(served.id) as session:
        agents = human_service.by_agent(session, served.id, PERIOD).set_index("agent")
    assert agents.loc["小王", "handoffs"] == 2 and agents.loc["小王", "resolved"] == 1
    assert agents.loc["小王", "first_response_p50_s"] == pytest.approx(60)  # median of 30 s and 90 s
    assert agents.loc["小王", "resolve_p50_s"] == pytest.approx(600)
    assert agents.loc["Li", "first_response_p50_s"] == pytest.approx(300)
    assert agents.loc["(unassigned)", "handoffs"] == 1 and agents.loc["(unassigned)", "answered"] == 0


def test_per_day_counts_every_day_and_only_this_tenant(served) -> None:
    with tenant_session_sync(served.id) as session:
        days = human_service.by_day(session, served.id, PERIOD)
        totals = human_service.totals(session, served.id, PERIOD)
    assert days["handoffs"].tolist() == [0, 2, 2, 0]
    assert days["answered"].tolist() == [0, 2, 1, 0]
    assert totals["handoffs"] == 4 and totals["resolved"] == 2 and totals["answered"] == 3
    assert totals["first_response_p50_s"] == pytest.approx(90)


def test_the_conversations_export_carries_the_service_columns(served) -> None:
    frame = pd.read_csv(io.BytesIO(b"".join(exports.iter_export(served.id, "conversations", "csv", PERIOD))))
    handed = frame.dropna(subset=["first_human_response_s"]).sort_values("handoff_at")
    assert handed["first_human_response_s"].tolist() == [30.0, 90.0, 300.0]
    assert handed["assignee"].tolist() == ["小王", "小王", "Li"]
    assert sorted(frame["resolve_s"].dropna().tolist()) == [600.0, 3600.0]


def test_the_overview_shows_the_human_service_section(served) -> None:
    data = overview.overview_data(owner_of(served), PERIOD)
    section = overview.human_service_section(data["service"])
    text = str(section)
    assert "小王" in text and "Li" in text and "(unassigned)" in text
    assert data["service"]["totals"]["handoffs"] == 4


def test_the_conversations_page_shows_the_same_figures(served) -> None:
    from dash_app.pages import conversations
    from dash_app.service_figures import human_service_section, service_data

    service = service_data(owner_of(served), PERIOD)
    text = str(human_service_section(service, "cv"))
    assert "cv-agents" in text and "cv-service-days" in text and "ov-agents" not in text
    assert "小王" in text and "Li" in text and "(unassigned)" in text
    assert "cv-service" in str(conversations.layout(owner_of(served)))
