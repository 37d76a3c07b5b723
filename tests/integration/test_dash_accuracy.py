"""Accuracy page: live accuracy from feedback, evaluation runs uploaded by an admin, failures per tenant."""

from __future__ import annotations

import base64
from datetime import date

import pytest

from analytics import rollups
from analytics.period import Period
from core.db import tenant_session_sync
from core.errors import NotFound, PermissionDenied, ValidationFailed
from dash_app.pages import accuracy, knowledge
from tests.factories import qa_csv
from tests.support.analytics_seed import seed_history
from tests.support.dash_users import analyst_of, owner_of

FAQ = qa_csv([("RET-1", "How do I return an item?", "Send it back within 30 days for a full refund."),
              ("SHIP-1", "How long does shipping take?", "Parcels arrive in 3 to 5 working days.")])
QUESTIONS = (b"question,expected\nHow do I return an item?,RET-1\n"
             b"How long does shipping take?,RET-1\n")  # labelled wrongly on purpose: one failure


def upload(csv: bytes) -> str:
    return "data:text/csv;base64," + base64.b64encode(csv).decode()


def test_live_accuracy_counts_thumbs_per_day(tenant):
    seed_history(tenant.id)
    with tenant_session_sync(tenant.id) as session:
        rollups.refresh(session, tenant.id, today=date(2026, 3, 6))
    frame = accuracy.live_accuracy(analyst_of(tenant), Period(date(2026, 3, 2), date(2026, 3, 4)))
    assert list(zip(frame["thumbs_up"], frame["thumbs_down"], strict=True)) == [(1, 1), (0, 0), (1, 0)]
    figure = accuracy.accuracy_figure(frame)
    assert [trace.name for trace in figure.data][:2] == ["Thumbs up", "Thumbs down"]  # words: no emoji font needed


def test_evaluation_run_stored_with_failures_for_admins_only(tenant, other_tenant, stub_worker):
    owner = owner_of(tenant)
    knowledge.upload_documents(owner, [("faq.csv", FAQ)])
    stub_worker()
    with pytest.raises(PermissionDenied):
        accuracy.start_evaluation(analyst_of(tenant), "set.csv", upload(QUESTIONS), None)
    assert accuracy.evaluation_runs(owner).empty
    run_id = accuracy.start_evaluation(owner, "set.csv", upload(QUESTIONS), "before the edit")
    stub_worker()
    runs = accuracy.evaluation_runs(analyst_of(tenant))
    assert list(runs["name"]) == ["before the edit"] and int(runs.iloc[0]["questions"]) == 2
    failures = accuracy.failures(analyst_of(tenant), run_id)
    assert int(runs.iloc[0]["failures"]) == len(failures)
    assert "How long does shipping take?" in list(failures["question"])  # the mislabelled row
    assert accuracy.evaluation_runs(owner_of(other_tenant)).empty
    with pytest.raises(NotFound):
        accuracy.failures(owner_of(other_tenant), run_id)
    rendered = accuracy._runs_table(runs)
    assert rendered.rowData[0]["id"] == run_id


def test_a_broken_upload_is_refused_with_a_message(tenant):
    with pytest.raises(ValidationFailed, match="did not arrive intact"):
        accuracy.start_evaluation(owner_of(tenant), "set.csv", "data:text/csv;base64,@@@", None)
    assert accuracy.evaluation_runs(owner_of(tenant)).empty


def test_a_run_is_queued_then_scored_by_the_worker_and_the_page_follows_it(tenant, stub_worker):
    owner = owner_of(tenant)
    knowledge.upload_documents(owner, [("faq.csv", FAQ)])
    stub_worker()
    run_id = accuracy.start_evaluation(owner, "set.csv", upload(QUESTIONS), None)
    runs = accuracy.evaluation_runs(owner)
    # The fixture's worker is still running, so it may already have picked the run up.
    assert list(runs["status"]) in (["queued"], ["running"]) and list(runs["name"]) == ["set.csv"]
    assert runs.iloc[0]["status"] in accuracy.run_status(runs).children
    stub_worker()
    runs = accuracy.evaluation_runs(owner)
    assert list(runs["status"]) == ["done"] and int(runs.iloc[0]["questions"]) == 2
    assert "is done: accuracy" in accuracy.run_status(runs).children
    assert accuracy._run_rows(runs)[0]["id"] == run_id


def test_a_failed_run_shows_why(tenant, monkeypatch, stub_worker):
    # Every attempt fails; when Dramatiq's retries are exhausted the run is marked failed.
    from knowledge import evaluation

    def broken(*_: object) -> None:
        raise RuntimeError("disk on fire at /secret/path")

    monkeypatch.setattr(evaluation, "evaluate", broken)
    owner = owner_of(tenant)
    accuracy.start_evaluation(owner, "set.csv", upload(QUESTIONS), "doomed")
    stub_worker(retries_exhausted=True)
    runs = accuracy.evaluation_runs(owner)
    assert list(runs["status"]) == ["failed"]
    message = accuracy.run_status(runs).children
    assert "Scoring failed after several attempts (RuntimeError)" in message and "/secret" not in message


def test_grounded_rate_and_flagged_answers_per_tenant(tenant, other_tenant):
    from tests.support.analytics_seed import add_checked_answers

    add_checked_answers(tenant.id)
    daily, flagged = accuracy.grounded(analyst_of(tenant), Period.last(8))
    assert daily["checked"].sum() == 14 and daily["grounded"].sum() == 11
    assert daily["rate"].iloc[-1] != daily["rate"].iloc[-1]  # today: no answers, no rate (NaN), not 0
    assert len(flagged) == 3 and "优惠券" in " ".join(flagged["unsupported"])
    figure = accuracy.grounded_figure(daily)
    assert [trace.name for trace in figure.data] == ["Grounded", "Flagged", "Grounded rate"]
    empty_daily, empty_flagged = accuracy.grounded(owner_of(other_tenant), Period.last(8))
    assert empty_daily["checked"].sum() == 0 and empty_flagged.empty
