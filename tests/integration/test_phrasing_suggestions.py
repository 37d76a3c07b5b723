"""Similar questions suggested from real traffic: gap questions linked to a row, chosen "did you mean"
suggestions; accepted with one call (the row gains the wording) or dismissed (never suggested again)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from core.db import tenant_session_sync
from core.models import Document, KnowledgeGapQuestion, KnowledgeGapTopic, Message
from dash_app.pages import knowledge
from knowledge import phrasing_suggestions
from knowledge.retrieval import retrieve_sync
from tests.support.dash_users import owner_of

pytestmark = pytest.mark.integration

FAQ = (
    b"id,question,answer\n"
    b"cod,Do you offer cash on delivery?,Yes: pay the courier in cash when the parcel arrives.\n"
    b"ship,How long does shipping take?,Parcels arrive in 3 to 5 days.\n"
)


def _upload(tenant, stub_worker) -> uuid.UUID:
    knowledge.upload_documents(owner_of(tenant), [("faq.csv", FAQ)])
    stub_worker()
    with tenant_session_sync(tenant.id) as session:
        return session.scalars(select(Document.id).where(Document.filename == "faq.csv")).one()


async def _ask(client, tenant, message: str, conversation_id: str | None = None) -> dict:
    response = await client.post(
        "/api/v1/chat",
        headers={"X-Widget-Key": tenant.created.widget_key},
        json={"message": message, "visitor_id": "v-1", "conversation_id": conversation_id},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _gap(tenant_id: uuid.UUID, questions: list[str]) -> None:
    """What the knowledge-gap job stores for unanswered questions (analytics.gaps)."""
    now = datetime.now(UTC)
    with tenant_session_sync(tenant_id) as session:
        messages = {m.text: m for m in session.scalars(select(Message).where(Message.role == "customer"))}
        topic = KnowledgeGapTopic(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            clustered_at=now,
            rank=1,
            label="payment",
            count=len(questions),
            examples=questions,
        )
        session.add(topic)
        session.flush()
        for i, question in enumerate(questions):
            session.add(
                KnowledgeGapQuestion(
                    tenant_id=tenant_id,
                    topic_id=topic.id,
                    message_id=messages[question].id,
                    asked_at=now - timedelta(minutes=i),
                    text=question,
                )
            )


async def test_a_gap_question_is_suggested_for_its_row_and_accepting_it_makes_the_row_match(
    client, tenant, stub_worker
):
    document_id = _upload(tenant, stub_worker)
    asked = "cash on delivery for large orders, is that possible"
    await _ask(client, tenant, asked)
    await _ask(client, tenant, "what colour is the sky on mars at dusk")  # no plausible row: not suggested
    _gap(tenant.id, [asked, "what colour is the sky on mars at dusk"])

    listed = await client.get("/api/v1/similar-questions/suggestions", headers=tenant.admin)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(s["question"], s["source_ref"], s["origin"], s["row_question"]) for s in items] == [
        (asked, "cod", "gap", "Do you offer cash on delivery?")
    ]
    assert items[0]["document_id"] == str(document_id)

    accepted = await client.post(
        "/api/v1/similar-questions/suggestions/accept",
        headers=tenant.admin,
        json={"document_id": str(document_id), "source_ref": "cod", "question": asked},
    )
    assert accepted.status_code == 202, accepted.text
    assert phrasing_suggestions.list_suggestions(tenant.id) == []  # at once, before the row is re-indexed
    stub_worker()
    rows = await client.get(f"/api/v1/documents/{document_id}/faq-rows", headers=tenant.admin)
    assert {r["source_ref"]: r["similar_questions"] for r in rows.json()["items"]}["cod"] == [asked]
    top = retrieve_sync(tenant.id, asked, 1)[0]
    assert (top.source_ref, top.metadata["matched_question"]) == ("cod", asked)
    assert phrasing_suggestions.list_suggestions(tenant.id) == []  # the row has the wording now


async def test_a_dismissed_wording_is_not_suggested_again_and_bad_choices_are_refused(client, tenant, stub_worker):
    document_id = _upload(tenant, stub_worker)
    asked = "cash on delivery for large orders, is that possible"
    await _ask(client, tenant, asked)
    _gap(tenant.id, [asked])
    choice = {"document_id": str(document_id), "source_ref": "cod", "question": asked}
    for _ in range(2):  # idempotent
        dismissed = await client.post(
            "/api/v1/similar-questions/suggestions/dismiss", headers=tenant.admin, json=choice
        )
        assert dismissed.status_code == 200, dismissed.text
    assert phrasing_suggestions.list_suggestions(tenant.id) == []

    missing = await client.post(
        "/api/v1/similar-questions/suggestions/accept", headers=tenant.admin, json={**choice, "source_ref": "nope"}
    )
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    empty = await client.post(
        "/api/v1/similar-questions/suggestions/accept", headers=tenant.admin, json={**choice, "question": "   "}
    )
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    too_long = await client.post(
        "/api/v1/similar-questions/suggestions/dismiss", headers=tenant.admin, json={**choice, "question": "x" * 1001}
    )
    assert too_long.status_code == 422
    rows = await client.get(f"/api/v1/documents/{document_id}/faq-rows", headers=tenant.admin)
    assert all(r["similar_questions"] == [] for r in rows.json()["items"])


async def test_the_wording_before_a_chosen_did_you_mean_suggestion_is_suggested_for_the_chosen_row(
    client, tenant, stub_worker
):
    document_id = _upload(tenant, stub_worker)
    first = await _ask(client, tenant, "pay the courier at my door?")
    chosen = await _ask(client, tenant, "Do you offer cash on delivery?", first["conversation_id"])
    with tenant_session_sync(tenant.id) as session:  # what the engine records on the choosing message
        session.execute(
            text(
                "UPDATE messages SET metadata = metadata || CAST(:m AS jsonb) "
                "WHERE id = (SELECT reply_to FROM messages WHERE id = :answer)"
            ),
            {
                "m": '{"suggestion_chosen": {"source_ref": "cod", "question": "Do you offer cash on delivery?"}}',
                "answer": chosen["message_id"],
            },
        )
    found = phrasing_suggestions.list_suggestions(tenant.id)
    assert [(s.phrasing, s.source_ref, s.origin, s.document_id) for s in found] == [
        ("pay the courier at my door?", "cod", "chosen", document_id)
    ]
