"""Every daily figure counts in the tenant's own days (issue 22): a tenant in Asia/Shanghai, messages around
its midnight. 01:30 in Shanghai on the 8th is 17:30 UTC on the 7th, and counts on the 8th."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from sqlalchemy import text

from analytics import exports, grounding, human_service, reports, rollups
from analytics.commands import change_timezone as set_timezone
from analytics.period import Period
from core.db import tenant_session_sync
from core.models.grounding import AnswerCheck
from dash_app.pages import conversations, overview
from tests.support.analytics_seed import add_conversation, question, reply
from tests.support.dash_users import analyst_of

SHANGHAI = "Asia/Shanghai"
DAYS = Period(date(2026, 3, 7), date(2026, 3, 9), SHANGHAI)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def around_midnight(tenant):
    """Three conversations: 01:30 on the 8th, 23:30 on the 8th and 00:30 on the 9th, Shanghai time."""
    set_timezone(tenant.id, SHANGHAI)
    early = add_conversation(tenant.id, "v1", utc(7, 17, 30), handoff=True, csat=5, messages=[
        question("Where is my order?", utc(7, 17, 30)),
        reply("It has shipped.", utc(7, 17, 31), latency_ms=500, rating=1),
    ])
    late = add_conversation(tenant.id, "v2", utc(8, 15, 30), messages=[
        question("Do you ship abroad?", utc(8, 15, 30)), reply("Yes.", utc(8, 15, 31), latency_ms=500),
    ])
    after = add_conversation(tenant.id, "v3", utc(8, 16, 30), messages=[
        question("Opening hours?", utc(8, 16, 30)),
        reply("I don't know.", utc(8, 16, 31), answered=False, latency_ms=500, rating=-1),
    ])
    with tenant_session_sync(tenant.id) as session:
        for message_at in (utc(7, 17, 31), utc(8, 16, 31)):
            message_id = session.scalar(text(
                "SELECT id FROM messages WHERE role = 'assistant' AND created_at = :at"), {"at": message_at})
            session.add(AnswerCheck(tenant_id=tenant.id, message_id=message_id, created_at=message_at, sentences=1,
                                    supported=1, grounded=True, action="flag"))
        rollups.refresh(session, tenant.id, today=date(2026, 3, 10))
    return early, late, after


def by_day(frame: pd.DataFrame, column: str) -> dict[str, float]:
    return {str(day)[:10]: value for day, value in zip(frame["day"], frame[column], strict=True)}


def test_daily_reports_count_in_the_tenants_days(tenant, around_midnight):
    with tenant_session_sync(tenant.id) as session:
        trend = reports.daily_trend(session, tenant.id, DAYS)
        accuracy = reports.live_accuracy(session, tenant.id, DAYS)
        handoffs = human_service.by_day(session, tenant.id, DAYS)
        checked = grounding.grounded_daily(session, tenant.id, DAYS)
        peaks = reports.peak_hours(session, tenant.id, DAYS)
    assert by_day(trend, "conversations") == {"2026-03-07": 0, "2026-03-08": 2, "2026-03-09": 1}
    assert by_day(trend, "messages") == {"2026-03-07": 0, "2026-03-08": 4, "2026-03-09": 2}
    assert by_day(accuracy, "thumbs_up") == {"2026-03-07": 0, "2026-03-08": 1, "2026-03-09": 0}
    assert by_day(accuracy, "thumbs_down") == {"2026-03-07": 0, "2026-03-08": 0, "2026-03-09": 1}
    assert by_day(handoffs, "handoffs") == {"2026-03-07": 0, "2026-03-08": 1, "2026-03-09": 0}
    assert by_day(checked, "checked") == {"2026-03-07": 0, "2026-03-08": 1, "2026-03-09": 1}
    busy = peaks[peaks["messages"] > 0]
    # Sunday the 8th at 01:00 and 23:00, Monday the 9th at 00:00 (weekday 0 = Monday)
    assert sorted(zip(busy["weekday"], busy["hour"], busy["messages"], strict=True)) == [(0, 0, 2), (6, 1, 2),
                                                                                          (6, 23, 2)]


def test_a_period_is_the_tenants_days(tenant, around_midnight):
    early, late, _after = around_midnight
    user = analyst_of(tenant)
    assert user.timezone == SHANGHAI
    the_8th = Period(date(2026, 3, 8), date(2026, 3, 8), SHANGHAI)
    listed = conversations.conversation_list(user, the_8th)
    assert set(listed["conversation_id"].astype(str)) == {str(early), str(late)}
    data = overview.overview_data(user, the_8th)
    assert (data["kpis"]["conversations"], data["kpis"]["visitors"]) == (2, 2)


def test_exports_use_the_tenants_days_and_clock(tenant, around_midnight):
    early, _, _ = around_midnight
    daily = pd.read_csv(io.BytesIO(b"".join(exports.iter_export(tenant.id, "daily", "csv", DAYS))))
    assert dict(zip(daily["day"], daily["conversations"], strict=True)) == {
        "2026-03-07": 0, "2026-03-08": 2, "2026-03-09": 1}
    rows = pd.read_csv(io.BytesIO(b"".join(exports.iter_export(tenant.id, "conversations", "csv", DAYS))))
    started = dict(zip(rows["conversation_id"], rows["started_at"], strict=True))
    assert started[str(early)].startswith("2026-03-08T01:30:00+08:00")
    sheet = pd.read_excel(io.BytesIO(b"".join(exports.iter_export(tenant.id, "conversations", "xlsx", DAYS))))
    assert str(sheet.loc[sheet["conversation_id"] == str(early), "started_at"].iloc[0]).startswith("2026-03-08 01:30")


def test_changing_the_zone_moves_the_days(tenant, around_midnight):
    set_timezone(tenant.id, "UTC")
    with tenant_session_sync(tenant.id) as session:
        rollups.refresh(session, tenant.id, today=date(2026, 3, 10))
        trend = reports.daily_trend(session, tenant.id, Period(date(2026, 3, 7), date(2026, 3, 9)))
        zones = set(session.scalars(text(
            "SELECT DISTINCT zone FROM analytics_daily WHERE tenant_id = :t"), {"t": tenant.id}))
    assert by_day(trend, "conversations") == {"2026-03-07": 1, "2026-03-08": 2, "2026-03-09": 0}
    assert zones == {"UTC"}


def test_a_zone_chosen_in_the_admin_app_recomputes_the_days_in_a_worker(tenant, around_midnight, stub_worker):
    set_timezone(tenant.id, "UTC")  # analytics.commands.change_timezone, as Settings → Time zone calls it
    stub_worker()  # the queued refresh_rollups(full) runs; nobody calls rollups.refresh by hand
    with tenant_session_sync(tenant.id) as session:
        trend = reports.daily_trend(session, tenant.id, Period(date(2026, 3, 7), date(2026, 3, 9)))
    assert by_day(trend, "conversations") == {"2026-03-07": 1, "2026-03-08": 2, "2026-03-09": 0}
