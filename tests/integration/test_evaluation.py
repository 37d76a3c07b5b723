"""Evaluation runs: a labelled question set scored with the product's retrieval, stored per tenant."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from core.db import tenant_session_sync
from core.errors import NotFound, PayloadTooLarge, ServiceUnavailable, ValidationFailed
from core.models import EvaluationFailure, EvaluationRun
from knowledge import commands, evaluation
from knowledge.evaluation_set import MAX_BYTES
from tests.factories import TenantCtx, qa_csv

pytestmark = pytest.mark.integration

# The real embedder: the confidence scale is calibrated for it.
FAQ = qa_csv([
    ("RET-1", "How do I return an item?", "Send it back within 30 days for a full refund."),
    ("SHIP-1", "How long does shipping take?", "Parcels arrive in 3 to 5 working days."),
    ("PAY-1", "Which payment methods do you accept?", "Visa, Mastercard, Alipay and WeChat Pay."),
])
QUESTIONS = (
    b"question,expected\n"
    b"How do I return an item?,RET-1\n"
    b"How long does shipping take?,SHIP-1 | SHIP-2\n"
    b"Which payment methods do you accept?,RET-1\n"  # labelled wrongly on purpose: one failure
    b"zebra quantum violin,\n"  # out of scope: the bot should not answer
)


@pytest.fixture
async def faq_tenant(client, tenant: TenantCtx, stub_worker, real_embedder) -> TenantCtx:
    response = await client.post("/api/v1/documents", headers=tenant.admin, files={"file": ("faq.csv", FAQ)})
    assert response.status_code == 202, response.text
    stub_worker()
    return tenant


def test_a_run_stores_its_metrics_and_failures(faq_tenant) -> None:
    run_id = evaluation.run_evaluation(faq_tenant.id, QUESTIONS, name="smoke", threshold=0.5)
    with tenant_session_sync(faq_tenant.id) as session:
        runs = evaluation.list_runs(session, faq_tenant.id)
        failures = evaluation.run_failures(session, faq_tenant.id, run_id)
    run = runs.iloc[0]
    assert (run["run_id"], run["name"], run["questions"], run["in_scope"]) == (run_id, "smoke", 4, 3)
    assert run["top1"] == pytest.approx(2 / 3)
    assert run["handoff_rate"] == 1.0
    assert run["accuracy"] == pytest.approx(3 / 4)
    assert run["failures"] == 1
    assert failures[["row", "kind", "expected", "top_ref"]].values.tolist() == [[3, "wrong_top1", "RET-1", "PAY-1"]]
    assert "Alipay" in failures.iloc[0]["top_text"]


def test_a_run_records_the_candidates_its_searches_used(faq_tenant, monkeypatch) -> None:
    def metrics(run_id):
        with tenant_session_sync(faq_tenant.id) as session:
            return session.get(EvaluationRun, run_id).metrics

    small = metrics(evaluation.run_evaluation(faq_tenant.id, QUESTIONS))
    assert (small["vector_index"], small["search_candidates"]) == (False, 100)
    # A tenant searched through its partial HNSW index gets at most hnsw_ef_search per ranking.
    monkeypatch.setattr(evaluation.vector_index, "has_index_uncached", lambda tenant_id: True)
    indexed = metrics(evaluation.run_evaluation(faq_tenant.id, QUESTIONS))
    assert (indexed["vector_index"], indexed["search_candidates"]) == (True, 24)


def test_the_bot_threshold_decides_what_counts_as_answered(faq_tenant) -> None:
    strict = evaluation.run_evaluation(faq_tenant.id, QUESTIONS, threshold=1.0)
    with tenant_session_sync(faq_tenant.id) as session:
        run = evaluation.list_runs(session, faq_tenant.id).set_index("run_id").loc[strict]
        kinds = evaluation.run_failures(session, faq_tenant.id, strict)["kind"].tolist()
    assert run["answer_rate"] == 0.0 and run["threshold"] == 1.0
    assert kinds == ["not_answered", "not_answered", "wrong_top1"]


def test_runs_are_private_to_their_tenant(faq_tenant, other_tenant) -> None:
    run_id = evaluation.run_evaluation(faq_tenant.id, QUESTIONS)
    with tenant_session_sync(other_tenant.id) as session:
        assert evaluation.list_runs(session, other_tenant.id).empty
        assert session.scalar(select(func.count()).select_from(EvaluationFailure)) == 0
        with pytest.raises(NotFound):
            evaluation.run_failures(session, other_tenant.id, run_id)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", ValidationFailed, "empty"),
        (b"text,label_x\nhello,1\n", ValidationFailed, "expected column"),
        (b"question,expected\n", ValidationFailed, "no questions"),
        (b"question,expected\n,RET-1\n", ValidationFailed, "Row 1"),
        (b"question,expected\n" + b"x" * 2001 + b",RET-1\n", ValidationFailed, "longer than"),
        (b"q" * (MAX_BYTES + 1), PayloadTooLarge, "limit"),
    ],
)
def test_a_bad_question_set_is_refused_and_nothing_is_stored(faq_tenant, data, error, message) -> None:
    with pytest.raises(error, match=message):
        evaluation.run_evaluation(faq_tenant.id, data)
    with tenant_session_sync(faq_tenant.id) as session:
        assert session.scalar(select(func.count()).select_from(EvaluationRun)) == 0


def test_chinese_headers_and_semicolon_delimiters_are_read(faq_tenant) -> None:
    data = "问题;期望\nHow long does shipping take?;SHIP-1\n".encode("gb18030")
    run_id = evaluation.run_evaluation(faq_tenant.id, data)
    with tenant_session_sync(faq_tenant.id) as session:
        run = evaluation.list_runs(session, faq_tenant.id).set_index("run_id").loc[run_id]
    assert (run["questions"], run["top1"]) == (1, 1.0)


def test_kefu_eval_retrieval_prints_the_figures_and_removes_its_scratch_tenant(tmp_path, real_embedder) -> None:
    from click.testing import CliRunner

    from backend.cli import main
    from core.db import owner_engine

    (tmp_path / "faq.csv").write_bytes(FAQ)
    (tmp_path / "questions.csv").write_bytes(QUESTIONS)
    with owner_engine().connect() as conn:
        tenants_before = conn.scalar(text("SELECT count(*) FROM tenants"))
    result = CliRunner().invoke(main, ["eval", "retrieval", "--faq", str(tmp_path / "faq.csv"),
                                       "--queries", str(tmp_path / "questions.csv"), "--threshold", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert (figures["questions"], figures["top1"], figures["failures"]) == (4, pytest.approx(2 / 3), 1)
    with owner_engine().connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM tenants")) == tenants_before


def test_kefu_eval_retrieval_explains_a_bad_question_file(tmp_path) -> None:
    from click.testing import CliRunner

    from backend.cli import main

    (tmp_path / "faq.csv").write_bytes(FAQ)
    (tmp_path / "questions.csv").write_bytes(b"text,label_x\nhello,1\n")
    result = CliRunner().invoke(main, ["eval", "retrieval", "--faq", str(tmp_path / "faq.csv"),
                                       "--queries", str(tmp_path / "questions.csv")])
    assert result.exit_code == 1
    assert "expected column" in result.output


def test_the_worker_scores_a_queued_run_once_and_in_its_own_tenant(faq_tenant: TenantCtx, other_tenant: TenantCtx,
                                                                    stub_worker):
    run_id = commands.queue_evaluation(faq_tenant.id, QUESTIONS, name="queued")
    assert evaluation.score_run(other_tenant.id, run_id) == "skipped"  # RLS: not theirs
    stub_worker()
    with tenant_session_sync(faq_tenant.id) as session:
        run = evaluation.list_runs(session, faq_tenant.id).set_index("run_id").loc[run_id]
        assert run["status"] == "done" and run["questions"] == 4 and run["failures"] >= 1
        failures = len(evaluation.run_failures(session, faq_tenant.id, run_id))
    assert evaluation.score_run(faq_tenant.id, run_id) == "skipped"  # a redelivered message: already done
    with tenant_session_sync(faq_tenant.id) as session:
        assert len(evaluation.run_failures(session, faq_tenant.id, run_id)) == failures
        session.execute(text("UPDATE evaluation_runs SET status = 'running' WHERE id = :id"), {"id": run_id})
    assert evaluation.score_run(faq_tenant.id, run_id) == "done"  # redelivered mid-run: scored again, no duplicates
    with tenant_session_sync(faq_tenant.id) as session:
        assert len(evaluation.run_failures(session, faq_tenant.id, run_id)) == failures


def test_a_bad_set_is_refused_before_queueing_and_an_unreachable_queue_fails_the_run(tenant: TenantCtx,
                                                                                     monkeypatch):
    from knowledge.tasks import score_evaluation_run

    with pytest.raises(ValidationFailed):
        commands.queue_evaluation(tenant.id, b"foo,bar\n1,2\n")

    def unreachable(*_: object) -> None:
        raise ConnectionError("redis down")

    monkeypatch.setattr(score_evaluation_run, "send", unreachable)
    with pytest.raises(ServiceUnavailable):
        commands.queue_evaluation(tenant.id, QUESTIONS)
    with tenant_session_sync(tenant.id) as session:
        runs = evaluation.list_runs(session, tenant.id)
    assert list(runs["status"]) == ["failed"] and "unreachable" in runs.iloc[0]["error"]
