"""The product as an operator runs it: CLI, API process, worker process, Redis broker."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.e2e.conftest import ROOT, WORKER_METRICS_PORT, kefu
from tests.factories import qa_csv

pytestmark = pytest.mark.e2e


def wait_ready(base: str, headers: dict[str, str], document_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{base}/api/v1/documents/{document_id}", headers=headers, timeout=10).json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"document {document_id} still {body['status']}")


@pytest.fixture(scope="module")
def created_tenant(services) -> dict:
    result = kefu("tenant", "create", "E2E Shop", "--admin-email", "e2e-owner@example.com",
                  "--admin-password", "password-123", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_tenant_create_prints_ids_and_keys(created_tenant) -> None:
    assert set(created_tenant) >= {"tenant_id", "admin_api_key", "widget_key"}
    assert created_tenant["admin_api_key"].startswith("kefu_sk_")
    duplicate = kefu("tenant", "create", "Again", "--admin-email", "e2e-owner@example.com",
                     "--admin-password", "password-123", "--json")
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr


def test_upload_through_the_api_is_indexed_by_the_worker_process(services, created_tenant) -> None:
    headers = {"Authorization": f"Bearer {created_tenant['admin_api_key']}"}
    data = qa_csv([("S1", "Where is my parcel?", "Track it in My Orders."), ("S2", "怎么退款？", "联系客服办理退款。")])
    response = httpx.post(f"{services}/api/v1/documents", headers=headers,
                          files={"file": ("faq.csv", data, "text/csv")}, timeout=30)
    assert response.status_code == 202, response.text
    document = wait_ready(services, headers, response.json()["id"])
    assert document["status"] == "ready" and document["chunk_count"] == 2
    hits = httpx.post(f"{services}/api/v1/search", headers=headers, json={"query": "怎么退款", "top_k": 1},
                      timeout=30).json()["hits"]
    assert hits[0]["source_ref"] == "S2"


def test_login_then_use_the_token(services, created_tenant) -> None:
    login = httpx.post(f"{services}/api/v1/auth/login",
                       json={"email": "e2e-owner@example.com", "password": "password-123"}, timeout=30)
    assert login.status_code == 200
    token = login.json()["token"]
    listing = httpx.get(f"{services}/api/v1/documents", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert listing.status_code == 200


def test_kefu_ingest_folder_waits_for_the_worker(services, created_tenant) -> None:
    result = kefu("ingest", str(ROOT / "backend" / "demo_data"), "--tenant", created_tenant["tenant_id"])
    assert result.returncode == 0, result.stderr + result.stdout
    assert "shop_faq_zh.csv: ready, 12 chunks" in result.stdout
    assert "tea_guide.md: ready" in result.stdout
    again = kefu("ingest", str(ROOT / "backend" / "demo_data"), "--tenant", "E2E Shop")
    assert again.returncode == 0 and "unchanged shop_faq_en.csv" in again.stdout + again.stderr


def test_health_ready_and_openapi(services) -> None:
    assert httpx.get(f"{services}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{services}/ready").json()
    assert ready["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}
    schema = httpx.get(f"{services}/schema/openapi.json").json()
    assert "/api/v1/documents" in schema["paths"] and "/api/v1/search" in schema["paths"]


def test_worker_processes_report_actor_metrics(services, created_tenant) -> None:
    headers = {"Authorization": f"Bearer {created_tenant['admin_api_key']}"}
    upload = httpx.post(f"{services}/api/v1/documents", headers=headers, timeout=30,
                        files={"file": ("metrics.csv", qa_csv([("m1", "Do you gift wrap?", "Yes, for free.")]))})
    assert wait_ready(services, headers, upload.json()["id"])["status"] == "ready"
    # Merged from Dramatiq's forked worker processes by the `kefu worker` parent.
    body = httpx.get(f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics", timeout=10).text
    ok_runs = [line for line in body.splitlines()
               if line.startswith("kefu_actor_duration_seconds_count") and 'actor="ingest_document"' in line
               and 'outcome="ok"' in line]
    assert ok_runs and float(ok_runs[0].rsplit(" ", 1)[1]) >= 1, body
    assert any(line.startswith("kefu_ingested_chunks_total") and float(line.rsplit(" ", 1)[1]) >= 1
               for line in body.splitlines())
    assert 'kefu_queue_messages{queue="ingest"' in body
    api_metrics = httpx.get(f"{services}/metrics", timeout=10)
    assert api_metrics.status_code == 200 and "kefu_requests_total" in api_metrics.text
