"""Analytics actors run by a real Dramatiq worker on the stub broker: rollups, satisfaction, knowledge gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from analytics import reports
from analytics.period import Period
from core.db import tenant_session_sync
from core.models import ConversationScore, DailyRollup, KnowledgeGapQuestion, ModelRun
from tests.support.analytics_seed import add_conversation, at, question, reply, seed_history

pytestmark = pytest.mark.integration
PERIOD = Period(date(2026, 3, 2), date(2026, 3, 4))
HAPPY = ["Thanks, that solved it!", "Great, thank you so much", "Perfect, that's exactly what I needed, thanks",
         "谢谢，问题解决了", "Awesome, thanks for the quick help"]
UNHAPPY = ["This is useless, you didn't answer", "Terrible, still not working", "Worst support ever, useless",
           "没用，还是不行", "Not helpful at all, I want a refund"]


def test_refresh_rollups_for_every_tenant(tenant, other_tenant, stub_worker):
    from analytics.tasks import refresh_rollups

    seed_history(tenant.id)
    add_conversation(other_tenant.id, "b", at(3, 12), messages=[question("B?", at(3, 12))])
    refresh_rollups.send()  # no tenant: fans out one message per tenant
    stub_worker()
    refresh_rollups.send(str(tenant.id))  # redelivered / repeated: same figures
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        row = reports.overview(session, tenant.id, PERIOD).iloc[0]
        days = session.scalar(select(func.count()).select_from(DailyRollup).where(
            DailyRollup.day.between(PERIOD.start, PERIOD.end)))
    with tenant_session_sync(other_tenant.id) as session:
        other = reports.overview(session, other_tenant.id, PERIOD).iloc[0]
    assert (row["conversations"], row["messages"], days) == (4, 9, 3)
    assert (other["conversations"], other["messages"]) == (1, 1)


def _labelled_history(tenant_id, n_each: int, *, unlabelled: int = 3):
    start = datetime.now(UTC) - timedelta(days=5)
    for i in range(n_each):
        when = start + timedelta(minutes=10 * i)
        add_conversation(tenant_id, f"happy-{i}", when, csat=5, messages=[
            question("How do I reset my password?", when),
            reply("Use the reset link on the sign-in page.", when + timedelta(seconds=1), latency_ms=300),
            question(HAPPY[i % len(HAPPY)], when + timedelta(seconds=30)),
        ])
        when = start + timedelta(minutes=10 * i + 5)
        add_conversation(tenant_id, f"unhappy-{i}", when, csat=1, handoff=i % 2 == 0, messages=[
            question("How do I reset my password?", when),
            reply("I don't know.", when + timedelta(seconds=1), answered=False, latency_ms=2500),
            question(UNHAPPY[i % len(UNHAPPY)], when + timedelta(seconds=30)),
        ])
    for i in range(unlabelled):
        when = start + timedelta(hours=30, minutes=i)
        add_conversation(tenant_id, f"quiet-{i}", when, messages=[question("Opening hours?", when)])


def _scores_by_visitor(tenant_id) -> dict[str, float]:
    from core.models import Conversation

    with tenant_session_sync(tenant_id) as session:
        rows = session.execute(select(Conversation.visitor_id, ConversationScore.predicted_satisfaction)
                               .join(ConversationScore, ConversationScore.conversation_id == Conversation.id)).all()
    return dict(rows)


def test_train_satisfaction_learns_from_the_tenants_labels(tenant, other_tenant, stub_worker):
    from analytics.tasks import train_satisfaction

    _labelled_history(tenant.id, 20)
    _labelled_history(other_tenant.id, 2)
    train_satisfaction.send(str(tenant.id))
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        summary = reports.satisfaction_summary(session, tenant.id)
        stored = session.scalar(select(ModelRun.model).where(ModelRun.tenant_id == tenant.id))
    assert summary["status"] == "trained" and summary["n_labels"] == 40
    assert summary["cv_auc"] > 0.9  # the two groups differ plainly in words and behaviour
    assert summary["drivers"] and {"feature", "weight"} <= set(summary["drivers"][0])
    assert stored
    scores = _scores_by_visitor(tenant.id)
    assert len(scores) == 43  # every conversation, labelled or not
    happy = [v for k, v in scores.items() if k.startswith("happy")]
    unhappy = [v for k, v in scores.items() if k.startswith("unhappy")]
    assert min(happy) > max(unhappy)
    assert _scores_by_visitor(other_tenant.id) == {}  # B was not touched


def test_too_few_labels_use_the_default_model_and_still_score(tenant, stub_worker):
    from analytics.tasks import train_satisfaction

    _labelled_history(tenant.id, 3)
    train_satisfaction.send(str(tenant.id))
    stub_worker()
    train_satisfaction.send(str(tenant.id))  # a second run replaces scores, never duplicates them
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        summary = reports.satisfaction_summary(session, tenant.id)
        runs = session.scalar(select(func.count()).select_from(ModelRun))
    assert (summary["status"], summary["n_labels"], summary["cv_auc"]) == ("default", 6, None)
    assert runs == 2
    scores = _scores_by_visitor(tenant.id)
    assert len(scores) == 9 and all(0.0 < s < 1.0 for s in scores.values())


def test_knowledge_gaps_cluster_unanswered_and_down_rated_questions(tenant, other_tenant, stub_worker):
    from analytics.tasks import refresh_knowledge_gaps

    now = datetime.now(UTC) - timedelta(days=1)
    gaps = ["Do you ship to Canada?", "Can you deliver to Canada?", "Shipping to Canada possible?",
            "How much is shipping to Canada?", "Do you sell gift cards?", "Can I buy a gift card?",
            "Gift card for a friend?", "Where can I get gift cards?"]
    for i, text in enumerate(gaps):
        when = now + timedelta(minutes=i)
        answered = i % 2 == 0  # half fell back, half were answered but rated down
        add_conversation(tenant.id, f"g{i}", when, messages=[
            question(text, when),
            reply("Sorry, I don't know." if not answered else "Maybe.", when + timedelta(seconds=1),
                  answered=answered, latency_ms=500, rating=-1 if answered else None),
        ])
    add_conversation(tenant.id, "fine", now, messages=[
        question("What are your opening hours?", now), reply("9 to 5.", now + timedelta(seconds=1), latency_ms=100),
    ])
    add_conversation(other_tenant.id, "b", now, messages=[
        question("B tenant secret gap question?", now),
        reply("?", now + timedelta(seconds=1), answered=False, latency_ms=100),
    ])
    refresh_knowledge_gaps.send(str(tenant.id))
    stub_worker()
    refresh_knowledge_gaps.send(str(tenant.id))  # a second run replaces the batch
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        topics = reports.knowledge_gaps(session, tenant.id, Period.last(7))
        members = session.scalars(select(KnowledgeGapQuestion.text)).all()
    assert not topics.empty and topics["count"].sum() == len(members)
    assert set(members) <= set(gaps) and "What are your opening hours?" not in members
    assert len(members) == len(set(members))  # one batch only
    assert all(set(examples) <= set(gaps) for examples in topics.examples)
    with tenant_session_sync(tenant.id) as session:
        assert reports.knowledge_gaps(session, tenant.id, Period.last(7, today=date(2025, 1, 1))).empty


def test_schedule_enqueues_each_job_once_per_interval():
    from analytics import schedule
    from core.redis import sync_redis
    from tests.conftest import STUB_BROKER

    client = sync_redis()
    client.delete(*(schedule.KEY.format(job) for job in schedule.INTERVALS))
    try:
        assert schedule.run_due() == ["refresh_rollups", "apply_retention", "refresh_knowledge_gaps",
                                      "train_satisfaction"]
        assert schedule.run_due() == []  # another replica's pass, or the next tick: nothing is due yet
        assert STUB_BROKER.queues["analytics"].qsize() == 4
        assert 0 < client.ttl(schedule.KEY.format("refresh_rollups")) <= schedule.INTERVALS["refresh_rollups"]
    finally:
        STUB_BROKER.flush("analytics")


def test_cli_refresh_and_train(tenant):
    from click.testing import CliRunner

    from backend.cli import main

    seed_history(tenant.id)
    refreshed = CliRunner().invoke(main, ["analytics", "refresh", "--tenant", str(tenant.id), "--full"])
    trained = CliRunner().invoke(main, ["analytics", "train", "--tenant", str(tenant.id)])
    assert refreshed.exit_code == 0 and "day(s) recomputed" in refreshed.output
    assert trained.exit_code == 0 and "default model, 3 labels" in trained.output and "5 conversations scored" \
        in trained.output
    with tenant_session_sync(tenant.id) as session:
        assert reports.overview(session, tenant.id, PERIOD).iloc[0]["conversations"] == 4
