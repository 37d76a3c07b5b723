"""Privacy operations (issue 20, point 4): erasure on request, retention, the audit log.

After an erasure the person is in no export, no report, no knowledge-gap example; a tenant's
retention period deletes old conversations in the worker; admin actions are logged for owners.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from analytics import rollups
from core.db import tenant_session_sync
from core.identity import user_hash
from core.models import (
    AuditEntry,
    Conversation,
    DailyRollup,
    Feedback,
    Handoff,
    KnowledgeGapQuestion,
    KnowledgeGapTopic,
    Message,
)
from core.tenancy import identity_secret
from tests.factories import TenantCtx, make_tenant

pytestmark = pytest.mark.integration


@pytest.fixture
def shop() -> TenantCtx:
    return make_tenant("Privacy shop")


def widget(tenant: TenantCtx) -> dict[str, str]:
    return {"X-Widget-Key": tenant.created.widget_key}


async def converse(client, tenant: TenantCtx, visitor: str, text: str, user: str | None = None) -> dict:
    body: dict = {"message": text, "visitor_id": visitor}
    if user:
        body["user"] = {"id": user, "hash": user_hash(identity_secret(tenant.id), user)}
    answer = await client.post("/api/v1/chat", headers=widget(tenant), json=body)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    rated = await client.post(f"/api/v1/chat/messages/{out['message_id']}/feedback", headers=widget(tenant),
                              json={"rating": -1, "comment": f"comment of {visitor}", "visitor_id": visitor,
                                    **({"user": body["user"]} if user else {})})
    assert rated.status_code == 200, rated.text
    handoff = await client.post(f"/api/v1/chat/conversations/{out['conversation_id']}/handoff",
                                headers=widget(tenant), json={"visitor_id": visitor, "reason": f"help {visitor}",
                                                              **({"user": body["user"]} if user else {})})
    assert handoff.status_code == 200, handoff.text
    return out


def gap_topic(tenant: TenantCtx, texts_by_message: dict[uuid.UUID, str]) -> uuid.UUID:
    """A knowledge-gap topic quoting the given questions, as the clustering job would store it."""
    topic_id = uuid.uuid4()
    examples = list(texts_by_message.values())
    with tenant_session_sync(tenant.id) as session:
        session.add(KnowledgeGapTopic(id=topic_id, tenant_id=tenant.id, clustered_at=datetime.now(UTC), rank=0,
                                      label=examples[0], count=len(examples), examples=examples))
        session.flush()
        for message_id, text in texts_by_message.items():
            session.add(KnowledgeGapQuestion(tenant_id=tenant.id, topic_id=topic_id, message_id=message_id,
                                             asked_at=datetime.now(UTC), text=text))
    return topic_id


def question_id(tenant: TenantCtx, conversation_id: str) -> uuid.UUID:
    with tenant_session_sync(tenant.id) as session:
        return session.scalar(select(Message.id).where(Message.conversation_id == uuid.UUID(conversation_id),
                                                       Message.role == "customer"))


def counts(tenant: TenantCtx) -> dict[str, int]:
    with tenant_session_sync(tenant.id) as session:
        return {model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (Conversation, Message, Feedback, Handoff, KnowledgeGapQuestion)}


def rollup_conversations(tenant: TenantCtx) -> int:
    with tenant_session_sync(tenant.id) as session:
        return int(session.scalar(select(func.sum(DailyRollup.conversations))) or 0)


async def export_text(client, tenant: TenantCtx) -> str:
    parts = []
    for dataset in ("conversations", "messages", "feedback"):
        response = await client.get("/api/v1/analytics/export", headers=tenant.analyst,
                                    params={"dataset": dataset, "format": "csv"})
        assert response.status_code == 200, response.text
        parts.append(response.text)
    return "\n".join(parts)


async def test_erasing_a_visitor_removes_them_from_exports_reports_and_gap_examples(client, shop) -> None:
    gone = await converse(client, shop, "visitor-gone", "Do you ship zebra-striped teapots to Mars?")
    kept = await converse(client, shop, "visitor-kept", "Do you ship plain teapots to Lyon?")
    topic = gap_topic(shop, {question_id(shop, gone["conversation_id"]): "Do you ship zebra-striped teapots to Mars?",
                             question_id(shop, kept["conversation_id"]): "Do you ship plain teapots to Lyon?"})
    with tenant_session_sync(shop.id) as session:
        rollups.refresh(session, shop.id, full=True)
    assert rollup_conversations(shop) == 2
    assert "zebra-striped" in await export_text(client, shop)

    analyst = await client.delete("/api/v1/visitors/visitor-gone", headers=shop.analyst)
    assert analyst.status_code == 403
    response = await client.delete("/api/v1/visitors/visitor-gone", headers=shop.admin)
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["conversations"], erased["messages"], erased["feedback"], erased["handoffs"],
            erased["knowledge_gap_questions"]) == (1, 2, 1, 1, 1)

    exported = await export_text(client, shop)
    assert "zebra-striped" not in exported and "comment of visitor-gone" not in exported
    assert "visitor-gone" not in exported and "plain teapots" in exported
    assert rollup_conversations(shop) == 1  # recomputed in the same transaction, not at the next refresh
    with tenant_session_sync(shop.id) as session:
        row = session.get(KnowledgeGapTopic, topic)
        assert row is not None and row.count == 1 and row.examples == ["Do you ship plain teapots to Lyon?"]
        assert "zebra" not in row.label
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase_visitor")).one()
    assert entry.target == "visitor-gone" and entry.details["conversations"] == 1
    assert counts(shop) == {"conversations": 1, "messages": 2, "feedback": 1, "handoffs": 1,
                            "knowledge_gap_questions": 1}
    again = await client.delete("/api/v1/visitors/visitor-gone", headers=shop.admin)
    assert again.status_code == 200 and again.json()["erased"]["conversations"] == 0


async def test_erasing_a_verified_user_reaches_every_device(client, shop) -> None:
    await converse(client, shop, "phone-1", "my secret question one", user="cust-42")
    await converse(client, shop, "laptop-2", "my secret question two", user="cust-42")
    await converse(client, shop, "phone-1x", "someone else's question", user="cust-43")
    response = await client.delete("/api/v1/customers/cust-42", headers=shop.admin)
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["conversations"] == 2
    exported = await export_text(client, shop)
    assert "my secret question" not in exported and "someone else's question" in exported
    with tenant_session_sync(shop.id) as session:
        assert set(session.scalars(select(Conversation.user_id))) == {"cust-43"}
    bad = await client.delete("/api/v1/customers/has%20space", headers=shop.admin)
    assert bad.status_code == 422 and "user.id" in bad.json()["detail"]


async def test_retention_deletes_old_conversations_in_the_worker(client, shop, stub_worker) -> None:
    from analytics.tasks import apply_retention

    old = await converse(client, shop, "visitor-old", "an old question about kettles")
    await converse(client, shop, "visitor-new", "a new question about cups")
    long_ago = datetime.now(UTC) - timedelta(days=40)
    with tenant_session_sync(shop.id) as session:
        session.execute(update(Conversation).where(Conversation.id == uuid.UUID(old["conversation_id"]))
                        .values(started_at=long_ago, last_message_at=long_ago))
        session.execute(update(Message).where(Message.conversation_id == uuid.UUID(old["conversation_id"]))
                        .values(created_at=long_ago))
    bad = await client.put("/api/v1/settings/privacy", headers=shop.admin, json={"retention_days": 0})
    assert bad.status_code == 422 and "retention_days" in bad.json()["detail"]
    assert (await client.put("/api/v1/settings/privacy", headers=shop.analyst,
                             json={"retention_days": 30})).status_code == 403
    saved = await client.put("/api/v1/settings/privacy", headers=shop.admin, json={"retention_days": 30})
    assert saved.status_code == 200 and saved.json() == {"retention_days": 30}
    assert (await client.get("/api/v1/settings/privacy", headers=shop.analyst)).json() == {"retention_days": 30}

    apply_retention.send(str(shop.id))
    stub_worker()
    exported = await export_text(client, shop)
    assert "kettles" not in exported and "cups" in exported
    with tenant_session_sync(shop.id) as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert "settings.retention" in actions and "privacy.retention" in actions


async def test_the_audit_log_is_for_owners_and_exports_as_safe_csv(client, shop) -> None:
    upload = await client.post("/api/v1/documents", headers=shop.admin,
                               files={"file": ("=HYPERLINK(1).csv", b"question,answer\nq,a\n", "text/csv")})
    assert upload.status_code == 202, upload.text
    await client.put("/api/v1/settings/bot", headers=shop.admin, json={"persona": "You are kind."})
    await client.post("/api/v1/settings/identity-secret/rotate", headers=shop.admin)
    listed = await client.get("/api/v1/audit", headers=shop.admin)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    actions = [i["action"] for i in items]
    assert actions[:3] == ["identity_secret.rotate", "settings.bot", "documents.upload"]
    assert all(i["actor"].startswith("API key kefu_sk_") for i in items[:3])
    assert (await client.get("/api/v1/audit", headers=shop.analyst)).status_code == 403
    paged = await client.get("/api/v1/audit", headers=shop.admin, params={"limit": 1, "before": items[0]["id"]})
    assert [i["action"] for i in paged.json()["items"]] == ["settings.bot"]
    only = await client.get("/api/v1/audit", headers=shop.admin, params={"action": "settings."})
    assert {i["action"] for i in only.json()["items"]} == {"settings.bot"}

    exported = await client.get("/api/v1/audit/export", headers=shop.admin)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert rows[0] == ["at", "actor_kind", "actor", "action", "target", "details"]
    uploaded = next(r for r in rows if r[3] == "documents.upload")
    assert uploaded[4].startswith("'=")  # a spreadsheet shows it as text, never runs it


async def test_the_cli_rotates_the_secret_and_erases_a_user(client, shop) -> None:
    from click.testing import CliRunner

    from backend.cli import main

    await converse(client, shop, "cli-phone", "cli question to forget", user="cust-cli")
    old = identity_secret(shop.id)
    rotated = CliRunner().invoke(main, ["identity", "rotate", "--tenant", str(shop.id)])
    assert rotated.exit_code == 0, rotated.output
    assert identity_secret(shop.id) in rotated.output and identity_secret(shop.id) != old
    erased = CliRunner().invoke(main, ["privacy", "erase", "--tenant", str(shop.id), "--user", "cust-cli"])
    assert erased.exit_code == 0, erased.output
    assert '"conversations": 1' in erased.output
    both = CliRunner().invoke(main, ["privacy", "erase", "--tenant", str(shop.id), "--user", "x", "--visitor", "y"])
    assert both.exit_code != 0 and "exactly one" in both.output
    with tenant_session_sync(shop.id) as session:
        actors = set(session.scalars(select(AuditEntry.actor_label).where(AuditEntry.action.in_(
            ["identity_secret.rotate", "privacy.erase_user"]))))
    assert actors == {"kefu CLI"}
