"""Report functions on a hand-counted history (tests/support/analytics_seed.py), as the app role with RLS."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from analytics import reports, rollups
from analytics.period import Period
from core.db import tenant_session_sync
from core.errors import ValidationFailed
from core.models import ConversationScore, Feedback
from tests.support.analytics_seed import add_conversation, at, question, reply, seed_history

pytestmark = pytest.mark.integration
PERIOD = Period(date(2026, 3, 2), date(2026, 3, 4))


@pytest.fixture
def seeded(tenant, other_tenant):
    history = seed_history(tenant.id)
    # Tenant B is busy on the same days; none of it may show up in A's figures.
    add_conversation(other_tenant.id, "v1", at(2, 9), csat=1, handoff=True, messages=[
        question("B's question", at(2, 9)), reply("B's answer", at(2, 9, 0, 1), latency_ms=9000, rating=-1),
        question("B again", at(4, 10)),
    ])
    for tid in (tenant.id, other_tenant.id):
        with tenant_session_sync(tid) as session:
            rollups.refresh(session, tid, today=date(2026, 3, 6))
    return history


def test_overview_counts_by_hand(tenant, seeded):
    with tenant_session_sync(tenant.id) as session:
        row = reports.overview(session, tenant.id, PERIOD).iloc[0]
    assert row["conversations"] == 4 and row["messages"] == 9
    assert row["visitors"] == 3 and row["wau"] == 3
    assert row["dau_avg"] == pytest.approx(4 / 3)  # 2 on Mon, 0 on Tue, 2 on Wed
    assert row["answer_rate"] == pytest.approx(3 / 4)
    assert row["thumbs_up_rate"] == pytest.approx(2 / 3)
    assert row["csat_avg"] == pytest.approx(3.5)
    assert row["handoff_rate"] == pytest.approx(1 / 4)
    assert row["resolution_rate"] == pytest.approx(2 / 4)  # c1, c3; not c2 (handed off) nor c4 (failed)
    assert row["latency_p50_ms"] == pytest.approx(700)  # 400, 600, 800, 1200
    assert row["latency_p95_ms"] == pytest.approx(800 + 0.85 * 400)
    assert row["tokens"] == 3600
    assert row["est_cost_usd"] == pytest.approx((3000 * 0.00015 + 600 * 0.0006) / 1000)


def test_daily_trend_has_every_day(tenant, seeded):
    with tenant_session_sync(tenant.id) as session:
        session.add_all([
            ConversationScore(tenant_id=tenant.id, conversation_id=seeded.c1, predicted_satisfaction=0.9),
            ConversationScore(tenant_id=tenant.id, conversation_id=seeded.c2, predicted_satisfaction=0.2),
            ConversationScore(tenant_id=tenant.id, conversation_id=seeded.c3, predicted_satisfaction=0.8),
        ])
        session.flush()
        trend = reports.daily_trend(session, tenant.id, PERIOD).set_index("day")
    assert list(trend.index) == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    mon, tue, wed = (trend.loc[date(2026, 3, d)] for d in (2, 3, 4))
    assert (mon.conversations, mon.messages, mon.visitors) == (2, 6, 2)
    assert mon.answer_rate == pytest.approx(2 / 3) and mon.thumbs_up_rate == pytest.approx(0.5)
    assert mon.csat_avg == pytest.approx(3.5) and mon.handoff_rate == pytest.approx(0.5)
    assert mon.predicted_satisfaction == pytest.approx(0.55)
    assert (tue.conversations, tue.messages) == (0, 0)
    assert tue[["answer_rate", "csat_avg", "predicted_satisfaction"]].isna().all()
    assert (wed.conversations, wed.messages, wed.visitors) == (2, 3, 2)
    assert wed.answer_rate == 1.0 and wed.handoff_rate == 0.0 and wed.predicted_satisfaction == pytest.approx(0.8)


def test_peak_hours_by_weekday_and_hour(tenant, seeded):
    with tenant_session_sync(tenant.id) as session:
        peaks = reports.peak_hours(session, tenant.id, PERIOD)
    assert len(peaks) == 7 * 24
    busy = {(r.weekday, r.hour): r.messages for r in peaks.itertuples() if r.messages}
    assert busy == {(0, 9): 4, (0, 14): 2, (2, 10): 2, (2, 23): 1}


def test_live_accuracy_per_day(tenant, seeded):
    with tenant_session_sync(tenant.id) as session:
        acc = reports.live_accuracy(session, tenant.id, PERIOD).set_index("day")
    assert acc.loc[date(2026, 3, 2)].to_dict() == {"thumbs_up": 1, "thumbs_down": 1, "up_rate": 0.5,
                                                   "answered": 2, "fallbacks": 1}
    assert acc.loc[date(2026, 3, 4), "up_rate"] == 1.0
    assert acc.loc[date(2026, 3, 3), "thumbs_up"] == 0


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, ["c4", "c3", "c2", "c1"]),
    ({"rating": "down"}, ["c2"]),
    ({"rating": "up"}, ["c3", "c1"]),
    ({"handed_off": True}, ["c2"]),
    ({"handed_off": False}, ["c4", "c3", "c1"]),
    ({"unanswered": True}, ["c4", "c2"]),
    ({"search": "refund"}, ["c1"]),
    ({"search": "42", "rating": "up"}, ["c3"]),
    ({"search": "100%"}, []),
    ({"limit": 2}, ["c4", "c3"]),
])
def test_conversation_filters(tenant, seeded, filters, expected):
    names = {getattr(seeded, n): n for n in ("c1", "c2", "c3", "c4", "c5")}
    with tenant_session_sync(tenant.id) as session:
        found = reports.conversations(session, tenant.id, PERIOD, **filters)
    assert [names[uuid.UUID(c)] for c in found["conversation_id"]] == expected


def test_conversation_row_fields(tenant, seeded):
    with tenant_session_sync(tenant.id) as session:
        rows = reports.conversations(session, tenant.id, PERIOD).set_index("conversation_id")
    c2 = rows.loc[str(seeded.c2)]
    assert (c2.visitor_id, c2.messages, c2.first_question, c2.rating, c2.csat) == ("v2", 2, "Do you ship to Mars?",
                                                                                  "down", 2)
    assert bool(c2.handed_off) and bool(c2.unanswered)
    assert rows.loc[str(seeded.c1), "rating"] == "up"


def test_transcript_with_citations_and_tool_calls(tenant, seeded):
    with tenant_session_sync(tenant.id) as session:
        c1 = reports.transcript(session, tenant.id, seeded.c1)
        c3 = reports.transcript(session, tenant.id, seeded.c3)
    assert list(c1.role) == ["customer", "assistant", "customer", "assistant"]
    assert c1.content[0] == "How do I return shoes?"
    assert c1.citations[1] == [{"document_id": "d1", "chunk_id": "k1", "source_ref": "faq-3"}]
    assert c1.rating.fillna("-").tolist() == ["-", "up", "-", "-"] and list(c1.latency_ms[1::2]) == [400, 800]
    assert c3.tool_calls[1][0]["name"] == "lookup_record"


def test_service_status_rates(tenant, seeded):
    with tenant_session_sync(tenant.id) as session:
        status = reports.service_status(session, tenant.id, PERIOD)
    assert status["error_rate"] == pytest.approx(1 / 5)  # c4's question failed, of 5 questions
    assert status["fallback_rate"] == pytest.approx(1 / 4)
    assert status["llm_latency_p50_ms"] == pytest.approx(700)
    assert set(status["queue_depths"]) >= {"ingest", "chat", "analytics"}
    assert status["documents_failed"] == 0


def test_other_tenants_rows_are_invisible_even_when_asked_for(tenant, other_tenant, seeded):
    """B's session asking with A's id sees nothing: RLS, not the WHERE clause, keeps tenants apart."""
    with tenant_session_sync(other_tenant.id) as session:
        row = reports.overview(session, tenant.id, PERIOD).iloc[0]
        listed = reports.conversations(session, tenant.id, PERIOD)
        transcript = reports.transcript(session, tenant.id, seeded.c1)
        own = reports.overview(session, other_tenant.id, PERIOD).iloc[0]
    assert (row["conversations"], row["messages"], row["visitors"]) == (0, 0, 0)
    assert listed.empty and transcript.empty
    assert (own["conversations"], own["messages"], own["latency_p50_ms"]) == (1, 3, 9000)


def test_incremental_refresh_picks_up_new_feedback(tenant, seeded):
    with tenant_session_sync(tenant.id) as session:
        session.add(Feedback(tenant_id=tenant.id, message_id=seeded.c1_second_reply, conversation_id=seeded.c1,
                             rating=-1))
    with tenant_session_sync(tenant.id) as session:
        written = rollups.refresh(session, tenant.id, today=date(2026, 3, 6))
        row = reports.overview(session, tenant.id, PERIOD).iloc[0]
    assert date(2026, 3, 2) in written  # the rated reply's day, far outside the 3-day lookback
    assert date(2026, 3, 3) not in written
    assert row["thumbs_up_rate"] == pytest.approx(2 / 4)


def test_bad_inputs_are_refused(tenant, seeded):
    with tenant_session_sync(tenant.id) as session, pytest.raises(ValidationFailed, match="rating"):
        reports.conversations(session, tenant.id, PERIOD, rating="meh")
    with tenant_session_sync(tenant.id) as session, pytest.raises(ValidationFailed, match="conversation id"):
        reports.transcript(session, tenant.id, "not-a-uuid")


def test_satisfaction_summary_defaults_without_a_model(tenant):
    with tenant_session_sync(tenant.id) as session:
        summary = reports.satisfaction_summary(session, tenant.id)
    assert summary == {"status": "default", "trained_at": None, "n_labels": 0, "cv_auc": None, "drivers": []}


def test_latency_percentiles_match_postgres_percentile_cont(tenant, seeded):
    from sqlalchemy import text

    from analytics.activity import latency_percentiles, period_params

    when = at(3, 12)
    add_conversation(tenant.id, "v9", when, messages=[
        m for i, ms in enumerate([250, 250, 250, 975, 975, 3100, 40, 40, 40, 40, 1200])
        for m in (question(f"q{i}", when), reply(f"a{i}", when, latency_ms=ms))
    ])
    fractions = (0.0, 0.1, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)
    with tenant_session_sync(tenant.id) as session:
        ours = latency_percentiles(session, period_params(tenant.id, PERIOD), fractions)
        theirs = session.execute(text(
            "SELECT percentile_cont(CAST(:f AS float8[])) WITHIN GROUP (ORDER BY latency_ms) FROM messages "
            "WHERE role = 'assistant' AND created_at >= :lo AND created_at < :hi AND latency_ms IS NOT NULL"),
            {"f": list(fractions), "lo": PERIOD.start_ts, "hi": PERIOD.end_ts}).scalar()
    assert ours == pytest.approx(theirs)
