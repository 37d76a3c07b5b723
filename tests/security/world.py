"""Two tenants with a row of every kind, created through the public API, and a snapshot of a tenant's data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
from sqlalchemy import select

from core.db import tenant_session_sync
from core.models import (
    AuditEntry,
    CannedResponse,
    Chunk,
    Conversation,
    Document,
    EvaluationRun,
    FaqOverride,
    Feedback,
    Handoff,
    HttpTool,
    Message,
    PhrasingDismissal,
    Record,
    RecordCollection,
    Source,
    SourcePage,
    Tenant,
    Webhook,
)
from core.tenancy import add_user
from tests.factories import make_tenant
from tests.security.surface import Seeded, faq_csv, labelled_csv, site_url


def run_queued_work() -> None:
    """Process everything queued on the stub broker (ingestion) in this process, then stop."""
    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        for queue in list(broker.queues):
            broker.join(queue, fail_fast=True)
        worker.join()
    finally:
        worker.stop()


async def seed(client: Any, name: str, *, ingest: Callable[[], None] = run_queued_work) -> Seeded:
    """A tenant with a document, records, a tool, bot settings and a rated conversation.

    `ingest` processes the queued document; against separate worker processes pass a no-op.
    """
    ctx = make_tenant(name)
    marker = f"mk{uuid.uuid4().hex[:10]}"
    email = f"analyst-{marker}@example.com"
    with tenant_session_sync(ctx.id) as session:
        add_user(session, ctx.id, email, "password-123", "analyst")
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": "password-123"})
    assert login.status_code == 200, login.text
    token = {"Authorization": f"Bearer {login.json()['token']}"}
    secret = f"sc{uuid.uuid4().hex[:10]}"
    tenant = Seeded(ctx.id, ctx.admin, ctx.analyst, token, ctx.created.widget_key, marker, secret)
    agent_email = f"agent-{marker}@example.com"
    with tenant_session_sync(ctx.id) as session:
        add_user(session, ctx.id, agent_email, "password-123", "agent")
    agent_login = await client.post("/api/v1/auth/login", json={"email": agent_email, "password": "password-123"})
    tenant.agent_token = {"Authorization": f"Bearer {agent_login.json()['token']}"}
    canned = await client.post("/api/v1/canned-responses", headers=tenant.admin,
                               json={"shortcut": f"c{marker}", "text": f"Our {secret} team will help."})
    assert canned.status_code == 201, canned.text
    tenant.canned_id = canned.json()["id"]

    upload = await client.post("/api/v1/documents", headers=tenant.admin,
                               files={"file": (f"{marker}.csv", faq_csv(marker, secret), "text/csv")})
    assert upload.status_code == 202, upload.text
    tenant.document_id = upload.json()["id"]
    source = await client.post("/api/v1/sources", headers=tenant.admin,
                               json={"type": "website", "url": site_url(marker), "schedule": "weekly"})
    assert source.status_code == 202, source.text
    tenant.source_id = source.json()["id"]
    ingest()  # the crawl fails at once (nothing listens on port 9): the source is `failed`, with its reason

    # A key shaped like an order number, so the chat's record lookup recognises it; the orders
    # belong to the tenant's signed-in customer `user_id` (owner column), as a shop's would.
    tenant.collection, tenant.record_key = f"orders_{marker}", f"ZQ-{uuid.uuid4().int % 10**8:08d}"
    tenant.user_id = f"customer-{marker}"
    for collection in ("orders", tenant.collection):
        rows = f"order_id,customer_id,status\n{tenant.record_key},{tenant.user_id},shipped to {secret}\n".encode()
        imported = await client.post(f"/api/v1/records/{collection}", headers=tenant.admin,
                                     files={"file": ("orders.csv", rows)},
                                     data={"key_column": "order_id", "owner_column": "customer_id"})
        assert imported.status_code == 200, imported.text

    tenant.tool_name = f"track_{marker}"
    tool = await client.post("/api/v1/tools", headers=tenant.admin, json={
        "name": tenant.tool_name, "description": f"Track a {secret} parcel",
        "url_template": "https://shop.example.com/track/{code}",
        "parameters": {"type": "object", "properties": {"code": {"type": "string"}}}})
    assert tool.status_code == 201, tool.text
    settings = await client.put("/api/v1/settings/bot", headers=tenant.admin,
                                json={"persona": f"You are the assistant of {secret}."})
    assert settings.status_code == 200, settings.text

    tenant.visitor_id = f"visitor-{marker}"
    chat = await client.post("/api/v1/chat", headers=tenant.widget, json={
        "message": f"What is the {marker} refund policy?", "visitor_id": tenant.visitor_id})
    assert chat.status_code == 200, chat.text
    tenant.conversation_id, tenant.answer_id = chat.json()["conversation_id"], chat.json()["message_id"]
    with tenant_session_sync(tenant.tenant_id) as session:
        tenant.question_id = str(session.scalar(select(Message.id).where(Message.role == "customer")))
    rated = await client.post(f"/api/v1/chat/messages/{tenant.answer_id}/feedback", headers=tenant.widget,
                              json={"rating": 1, "visitor_id": tenant.visitor_id})
    assert rated.status_code == 200, rated.text
    # The signed-in customer's own conversation (a verified user, from another device).
    signed = await client.post("/api/v1/chat", headers=tenant.widget, json={
        "message": f"Where is my order {tenant.record_key}?", "visitor_id": f"device-{marker}",
        "user": tenant.user_claim()})
    assert signed.status_code == 200 and secret in signed.json()["answer"], signed.text
    tenant.user_conversation_id = signed.json()["conversation_id"]
    # Subscribed to an event nothing in these suites emits, so no delivery is ever queued.
    hook = await client.post("/api/v1/webhooks", headers=tenant.admin, json={
        "url": f"http://127.0.0.1:9/{marker}/hook", "events": ["conversation.resolved"]})
    assert hook.status_code == 201, hook.text
    tenant.webhook_id = hook.json()["id"]
    run = await client.post("/api/v1/evaluations", headers=tenant.admin,
                            files={"file": ("labelled.csv", labelled_csv(marker), "text/csv")},
                            data={"name": f"labelled {marker}"})
    assert run.status_code == 202, run.text
    tenant.run_id = run.json()["id"]
    ingest()  # scores the run
    return tenant


def snapshot(tenant_id: uuid.UUID) -> dict[str, Any]:
    """Everything of a tenant an attack could change, read in the tenant's own session."""

    def rows(session, *columns) -> list[tuple]:
        return sorted(tuple(str(v) for v in row) for row in session.execute(select(*columns)))

    with tenant_session_sync(tenant_id) as session:
        return {
            "tenant": sorted(str(v) for v in session.execute(
                select(Tenant.settings, Tenant.identity_secret, Tenant.retention_days, Tenant.model_secrets,
                       Tenant.reranker_secret)
                .where(Tenant.id == tenant_id))),
            "documents": rows(session, Document.id, Document.status, Document.version,
                              Document.chunk_count, Document.content_hash),
            "chunks": rows(session, Chunk.id, Chunk.text),
            "collections": rows(session, RecordCollection.name, RecordCollection.row_count,
                                RecordCollection.updated_at, RecordCollection.access,
                                RecordCollection.sensitive_columns),
            "records": rows(session, Record.key, Record.data),
            "tools": rows(session, HttpTool.name, HttpTool.description, HttpTool.enabled),
            "conversations": rows(session, Conversation.id, Conversation.csat,
                                  Conversation.handoff, Conversation.resolved, Conversation.user_id,
                                  Conversation.inbox_status, Conversation.assignee_id),
            "canned": rows(session, CannedResponse.id, CannedResponse.shortcut, CannedResponse.text),
            "messages": rows(session, Message.id, Message.role, Message.text),
            "feedback": rows(session, Feedback.message_id, Feedback.rating, Feedback.comment),
            "handoffs": rows(session, Handoff.conversation_id),
            "audit": rows(session, AuditEntry.id),
            "sources": rows(session, Source.id, Source.url, Source.status, Source.run_id, Source.schedule),
            "source_pages": rows(session, SourcePage.url, SourcePage.result, SourcePage.document_id),
            "webhooks": rows(session, Webhook.id, Webhook.url, Webhook.events),
            "contacts": rows(session, Conversation.id, Conversation.contact_email, Conversation.contact_phone),
            "evaluation_runs": rows(session, EvaluationRun.id, EvaluationRun.status, EvaluationRun.name),
            "faq_overrides": rows(session, FaqOverride.source_ref, FaqOverride.similar_questions),
            "phrasing_dismissals": rows(session, PhrasingDismissal.source_ref, PhrasingDismissal.phrasing_key),
        }
