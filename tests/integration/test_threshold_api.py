"""The threshold from a tenant's own labelled questions: reported per run, applied with one call."""

from __future__ import annotations

import pytest

from core.redis import sync_redis
from core.versions import tenant_version_key
from knowledge.confidence import DEFAULT_THRESHOLD

pytestmark = pytest.mark.integration

TOPICS = [
    "refund",
    "shipping",
    "invoice",
    "warranty",
    "coupon",
    "gift card",
    "password",
    "account",
    "size chart",
    "store hours",
    "returns label",
    "pre-order",
    "back order",
    "price match",
    "student discount",
    "newsletter",
    "loyalty points",
    "bulk order",
    "gift wrap",
    "tracking number",
    "cash on delivery",
    "installments",
]


def _faq() -> bytes:
    rows = [
        f"t{i},How does the {topic} work?,The {topic} works like this: see our {topic} page."
        for i, topic in enumerate(TOPICS)
    ]
    return ("id,question,answer\n" + "\n".join(rows) + "\n").encode()


def _labelled() -> bytes:
    rows = [f"How does the {topic} work?,t{i}" for i, topic in enumerate(TOPICS)]
    rows += [
        "Who won the football match yesterday?,",
        "Write me a poem about the sea,",
        "What is the capital of Peru?,",
        "How tall is Mount Everest?,",
        "Recommend a good film,",
    ]
    return ("question,expected\n" + "\n".join(rows) + "\n").encode()


async def _scored_run(client, tenant, stub_worker, labelled: bytes) -> str:
    upload = await client.post(
        "/api/v1/documents", headers=tenant.admin, files={"file": ("faq.csv", _faq(), "text/csv")}
    )
    assert upload.status_code == 202, upload.text
    stub_worker()
    run = await client.post(
        "/api/v1/evaluations",
        headers=tenant.admin,
        files={"file": ("set.csv", labelled, "text/csv")},
        data={"name": "my set"},
    )
    assert run.status_code == 202, run.text
    stub_worker()
    return run.json()["id"]


async def test_a_run_reports_precision_and_coverage_and_its_recommendation_is_applied(client, tenant, stub_worker):
    run_id = await _scored_run(client, tenant, stub_worker, _labelled())
    runs = await client.get("/api/v1/evaluations", headers=tenant.analyst)
    assert [(r["id"], r["name"], r["status"]) for r in runs.json()] == [(run_id, "my set", "done")]

    report = await client.get(
        f"/api/v1/evaluations/{run_id}/thresholds", headers=tenant.analyst, params={"target_precision": 0.9}
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["in_scope"], body["out_of_scope"], len(body["points"])) == (len(TOPICS), 5, 101)
    recommended = body["recommended_threshold"]
    assert recommended is not None and 0.2 <= recommended <= 1.0
    at = {round(p["threshold"], 2): p for p in body["points"]}
    assert at[round(recommended, 2)]["precision"] >= 0.9
    assert at[0.0]["coverage"] == 1.0 and at[0.0]["out_of_scope_answered"] == 5

    before = int(sync_redis().get(tenant_version_key(tenant.id)) or 0)
    applied = await client.post(
        f"/api/v1/evaluations/{run_id}/apply-threshold", headers=tenant.admin, json={"target_precision": 0.9}
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["confidence_threshold"] == recommended
    settings = await client.get("/api/v1/settings/bot", headers=tenant.admin)
    assert settings.json()["confidence_threshold"] == recommended
    assert int(sync_redis().get(tenant_version_key(tenant.id)) or 0) > before  # cached answers are dropped


async def test_a_set_too_small_recommends_nothing_and_applying_it_changes_nothing(client, tenant, stub_worker):
    small = b"question,expected\nHow does the refund work?,t0\nWhat is the capital of Peru?,\n"
    run_id = await _scored_run(client, tenant, stub_worker, small)
    report = await client.get(f"/api/v1/evaluations/{run_id}/thresholds", headers=tenant.admin)
    assert report.json()["recommended_threshold"] is None and "at least 20" in report.json()["reason"]
    applied = await client.post(
        f"/api/v1/evaluations/{run_id}/apply-threshold", headers=tenant.admin, json={"target_precision": 0.9}
    )
    assert applied.status_code == 422 and "at least 20" in applied.json()["detail"]
    settings = await client.get("/api/v1/settings/bot", headers=tenant.admin)
    assert settings.json()["confidence_threshold"] == DEFAULT_THRESHOLD


async def test_bad_targets_and_unknown_runs_are_refused(client, tenant, stub_worker):
    run_id = await _scored_run(client, tenant, stub_worker, _labelled())
    low = await client.get(
        f"/api/v1/evaluations/{run_id}/thresholds", headers=tenant.admin, params={"target_precision": 0.3}
    )
    assert low.status_code == 400 and "target_precision" in low.text
    for body in ({"target_precision": "high"}, {"target_precision": 1.5}, {"target_precision": True}):
        bad = await client.post(f"/api/v1/evaluations/{run_id}/apply-threshold", headers=tenant.admin, json=body)
        assert 400 <= bad.status_code < 500, (body, bad.text)
    unknown = await client.get(
        "/api/v1/evaluations/00000000-0000-0000-0000-000000000000/thresholds", headers=tenant.admin
    )
    assert unknown.status_code == 404
    empty = await client.post(
        "/api/v1/evaluations", headers=tenant.admin, files={"file": ("set.csv", b"question,expected\n", "text/csv")}
    )
    assert empty.status_code == 422, empty.text
    settings = await client.get("/api/v1/settings/bot", headers=tenant.admin)
    assert settings.json()["confidence_threshold"] == DEFAULT_THRESHOLD
