"""/metrics exposes request, chat and queue figures; every response and log line carries a request id."""

from __future__ import annotations

import json
import logging
import re

import pytest

from core.logging import JsonFormatter, TextFormatter
from tests.factories import qa_csv

pytestmark = pytest.mark.integration


def _sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample line in Prometheus text format (0 if absent)."""
    total = 0.0
    for line in body.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_metrics_count_requests_by_route_template_and_chat_outcomes(client, tenant, stub_worker):
    upload = await client.post("/api/v1/documents", headers=tenant.admin,
                               files={"file": ("faq.csv", qa_csv([("1", "How long is shipping?", "Three days.")]),
                                               "text/csv")})
    stub_worker()
    before = (await client.get("/metrics")).text
    document = await client.get(f"/api/v1/documents/{upload.json()['id']}", headers=tenant.admin)
    assert document.json()["status"] == "ready", document.text
    answered = await client.post("/api/v1/chat", headers={"X-Widget-Key": tenant.created.widget_key}, json={"message": "How long is shipping?"})
    assert answered.status_code == 200 and answered.json()["answer"]
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    # Grouped by template, so one series covers every document id.
    route = "/api/v1/documents/{document_id}"
    assert _sample(body, "kefu_requests_total", path=route) == _sample(before, "kefu_requests_total", path=route) + 1
    assert str(upload.json()["id"]) not in body
    outcome = "answered" if answered.json()["citations"] else "low_confidence"
    assert _sample(body, "kefu_chat_answers_total", outcome=outcome) == \
        _sample(before, "kefu_chat_answers_total", outcome=outcome) + 1
    assert _sample(body, "kefu_retrieval_seconds_count") >= 1
    assert _sample(body, "kefu_ingested_chunks_total") >= 1
    for stage in ("claim", "parse", "tokenise", "embed", "format", "store"):
        assert _sample(body, "kefu_ingest_stage_seconds_count", stage=stage) >= 1, stage
    assert _sample(body, "kefu_actor_duration_seconds_count", actor="ingest_document", outcome="ok") >= 1
    for queue in ("ingest", "chat", "analytics", "maintenance"):
        assert re.search(rf'kefu_queue_messages\{{queue="{queue}",scope="cluster",state="waiting"\}} \d', body)


async def test_indexed_document_log_line_says_where_the_time_went(client, tenant, stub_worker, caplog):
    caplog.set_level(logging.INFO, logger="knowledge.indexing")
    upload = await client.post("/api/v1/documents", headers=tenant.admin,
                               files={"file": ("stages.csv", qa_csv([("1", "Do you ship abroad?", "Yes.")]), "text/csv")})
    stub_worker()
    records = [r for r in caplog.records if r.getMessage() == "document indexed"]
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["document_id"] == upload.json()["id"] and line["chunks"] == 1
    assert set(line["seconds"]) == {"claim", "parse", "tokenise", "embed", "format", "store"}
    assert all(value >= 0 for value in line["seconds"].values())


async def test_request_id_is_echoed_and_generated(client):
    given = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])


async def test_log_lines_carry_request_and_tenant_ids(client, tenant, caplog):
    caplog.set_level(logging.INFO)
    response = await client.post("/api/v1/chat", headers={"X-Widget-Key": tenant.created.widget_key, "X-Request-ID": "req-log-1"},
                                 json={"message": "hello"})
    assert response.status_code == 200
    formatter = JsonFormatter()
    ours = [json.loads(formatter.format(r)) for r in caplog.records]
    # The context is attached when the line is written; format() reads it from the record's context.
    access = [line for line in ours if line["logger"] == "kefu.access" and line.get("request_id") == "req-log-1"]
    assert access, ours
    assert access[0]["tenant_id"] == str(tenant.id)
    assert access[0]["status"] == 200 and access[0]["path"] == "/api/v1/chat"
    assert access[0]["conversation_id"] == response.json()["conversation_id"]


async def test_access_lines_read_the_same_as_text_and_as_json(client, tenant, caplog):
    caplog.set_level(logging.INFO)
    headers = {"X-Widget-Key": tenant.created.widget_key, "X-Request-ID": "req-text-1"}
    assert (await client.get("/api/v1/widget/config", headers=headers)).status_code == 200
    [record] = [r for r in caplog.records if r.name == "kefu.access" and r.kefu_context.get("request_id") == "req-text-1"]
    text = TextFormatter().format(record)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO    kefu\.access  GET /api/v1/widget/config 200 "
                        rf"[\d.]+ ms  request_id=req-text-1 tenant_id={tenant.id}", text), text
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"].startswith("GET /api/v1/widget/config 200 ")
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/widget/config", 200)
    assert line["duration_ms"] >= 0


def test_the_admin_app_writes_access_lines_too(caplog):
    from dash_app.app import create_app

    caplog.set_level(logging.INFO, logger="kefu.dash.access")
    client = create_app().server.test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/").status_code == 302  # signed out: redirected, and still logged
    assert client.get("/assets/kefu.css").status_code == 200  # static files are not
    lines = [TextFormatter().format(r) for r in caplog.records if r.name == "kefu.dash.access"]
    assert [re.sub(r"[\d.]+ ms$", "ms", line.split("kefu.dash.access  ")[1]) for line in lines] == ["GET /login 200 ms",
                                                                                        "GET / 302 ms"]


def test_log_format_follows_the_setting(monkeypatch):
    from core.logging import kefu_formatter
    from core.settings import get_settings

    for wanted, kind in (("text", TextFormatter), ("json", JsonFormatter)):
        monkeypatch.setenv("KEFU_LOG_FORMAT", wanted)
        get_settings.cache_clear()
        assert isinstance(kefu_formatter(), kind)
    get_settings.cache_clear()
