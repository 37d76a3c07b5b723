"""Report pages (overview, conversations, export, gaps, satisfaction, status) on seeded data of two tenants."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest

from analytics import rollups
from analytics.period import Period
from core.db import tenant_session_sync
from core.errors import NotFound, PermissionDenied, ValidationFailed
from dash_app.pages import conversations, export, gaps, knowledge_faq, overview, satisfaction, status
from tests.support.analytics_seed import add_conversation, at, question, reply, seed_history
from tests.support.dash_users import analyst_of, owner_of

PERIOD = Period(date(2026, 3, 2), date(2026, 3, 4))


@pytest.fixture
def seeded(tenant, other_tenant):
    history = seed_history(tenant.id)
    theirs = add_conversation(other_tenant.id, "b1", at(2, 9), csat=1, handoff=True, messages=[
        question("B's secret question", at(2, 9)), reply("B's answer", at(2, 9, 0, 1), latency_ms=9000, rating=-1),
    ])
    for tid in (tenant.id, other_tenant.id):
        with tenant_session_sync(tid) as session:
            rollups.refresh(session, tid, today=date(2026, 3, 6))
    return history, theirs


def test_overview_shows_only_the_users_tenant(tenant, other_tenant, seeded):
    data = overview.overview_data(analyst_of(tenant), PERIOD)
    assert (data["kpis"]["conversations"], data["kpis"]["messages"], data["kpis"]["visitors"]) == (4, 9, 3)
    assert int(data["peaks"]["messages"].sum()) == 9
    volume, rates, heat = overview.figures(data)
    assert list(volume.data[0].y) == [2, 0, 2]  # conversations per day, Mon..Wed
    assert sum(map(sum, heat.data[0].z)) == 9
    assert [trace.name for trace in rates.data][:3] == ["Answer rate", "Thumbs-up rate", "Hand-off rate"]
    theirs = overview.overview_data(owner_of(other_tenant), PERIOD)
    assert (theirs["kpis"]["conversations"], theirs["kpis"]["messages"]) == (1, 2)


def test_conversation_filters_and_transcripts_stay_in_the_tenant(tenant, seeded):
    history, theirs = seeded
    user = analyst_of(tenant)
    listed = conversations.conversation_list(user, PERIOD)
    assert set(listed["conversation_id"].astype(str)) == {str(c) for c in (history.c1, history.c2, history.c3,
                                                                           history.c4)}
    assert list(conversations.conversation_list(user, PERIOD, rating="down")["conversation_id"]) == [str(history.c2)]
    assert list(conversations.conversation_list(user, PERIOD, flags=["handed_off"])["conversation_id"]) == [str(history.c2)]
    assert list(conversations.conversation_list(user, PERIOD, search="order 42")["conversation_id"]) == [str(history.c3)]
    with pytest.raises(ValidationFailed):
        conversations.conversation_list(user, PERIOD, rating="sideways")
    messages = conversations.conversation_transcript(user, str(history.c3))
    assert list(messages["role"]) == ["customer", "assistant"]
    assert messages.iloc[1]["tool_calls"][0]["name"] == "lookup_record"
    with pytest.raises(NotFound):
        conversations.conversation_transcript(user, str(theirs))
    rendered = str(conversations.render_transcript(messages))
    assert "Order 42 has shipped." in rendered and "lookup_record" in rendered


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_analyst_exports_only_their_tenants_conversations(tenant, seeded, fmt):
    history, theirs = seeded
    filename, data = export.export_file(analyst_of(tenant), "conversations", fmt, PERIOD)
    assert filename.endswith(f".{fmt}")
    reader = {"csv": pd.read_csv, "parquet": pd.read_parquet, "xlsx": pd.read_excel}[fmt]
    frame = reader(io.BytesIO(data))
    ids = set(frame["conversation_id"].astype(str))
    assert ids == {str(c) for c in (history.c1, history.c2, history.c3, history.c4)}
    assert str(theirs) not in ids


def test_export_refuses_unknown_choices(tenant):
    with pytest.raises(ValidationFailed, match="dataset must be one of"):
        export.export_file(owner_of(tenant), "passwords", "csv", PERIOD)
    with pytest.raises(ValidationFailed, match="format must be one of"):
        export.export_file(owner_of(tenant), "messages", "exe", PERIOD)


def test_gap_answer_becomes_a_faq_entry_for_admins_only(tenant, stub_worker):
    with pytest.raises(PermissionDenied):
        gaps.add_gap_answer(analyst_of(tenant), "Do you ship to Mars?", "Not yet.")
    assert knowledge_faq.faq_rows(owner_of(tenant)) == []
    gaps.add_gap_answer(owner_of(tenant), "Do you ship to Mars?", "Not yet; Earth only.")
    stub_worker()
    assert [(r["question"], r["answer"]) for r in knowledge_faq.faq_rows(owner_of(tenant))] == [
        ("Do you ship to Mars?", "Not yet; Earth only.")]


def test_analyst_cannot_retrain_or_recluster(tenant):
    with pytest.raises(PermissionDenied):
        satisfaction.request_retrain(analyst_of(tenant))
    with pytest.raises(PermissionDenied):
        gaps.request_reclustering(analyst_of(tenant))


def test_satisfaction_page_before_any_training_uses_the_default_model(tenant, seeded):
    data = satisfaction.satisfaction_data(analyst_of(tenant), PERIOD)
    assert data["summary"]["status"] == "default"
    assert list(data["trend"]["day"]) == PERIOD.each_day()


def test_status_reports_health_and_backlog(tenant, seeded):
    data = status.status_data(analyst_of(tenant), PERIOD)
    assert data["database"][0] is True and data["redis"][0] is True
    assert data["documents_queued"] == 0 and set(data["queue_depths"]) >= {"ingest", "chat", "analytics"}
    assert data["fallback_rate"] == pytest.approx(1 / 4)  # c2's reply of four replies
