"""Lost-job recovery: queued work whose Dramatiq message vanished is found in the database and re-sent."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from backend import recovery
from chat import events
from chat.tasks import answer_message
from core.db import owner_engine
from core.redis import sync_redis
from core.settings import get_settings
from knowledge.tasks import ingest_document
from tests.factories import TenantCtx, qa_csv

pytestmark = pytest.mark.integration
DAY = 24 * 60 * 60


@pytest.fixture
def windows(monkeypatch) -> None:
    """Only rows older than a day count as lost, so rows other tests left pending are out of scope."""
    settings = get_settings()
    monkeypatch.setattr(settings, "recover_chat_after_seconds", DAY)
    monkeypatch.setattr(settings, "recover_chat_give_up_seconds", 3 * DAY)
    monkeypatch.setattr(settings, "recover_documents_after_seconds", DAY)


@contextmanager
def _lost(monkeypatch, actor) -> Iterator[None]:
    """Jobs sent to `actor` inside the block vanish, as a job the broker lost would."""
    with monkeypatch.context() as patch:
        patch.setattr(actor, "send", lambda *args, **kwargs: None)
        yield


def _backdate(table: str, column: str, row_id: str, days: float) -> None:
    with owner_engine().begin() as connection:
        connection.execute(
            text(f"UPDATE {table} SET {column} = now() - make_interval(secs => :s) WHERE id = :id"),
            {"s": days * DAY, "id": row_id},
        )


async def _queue(client, tenant: TenantCtx, message: str, visitor: str) -> str:
    return (await _queue_in(client, tenant, message, visitor))[0]


async def _queue_in(client, tenant: TenantCtx, message: str, visitor: str) -> tuple[str, str]:
    """Queue a customer message; (message id, conversation id)."""
    response = await client.post(
        "/api/v1/chat?mode=queued",
        headers={"X-Widget-Key": tenant.created.widget_key},
        json={"message": message, "visitor_id": visitor},
    )
    assert response.status_code == 202, response.text
    return response.json()["message_id"], response.json()["conversation_id"]


@contextmanager
def _listening(conversation_id: str) -> Iterator[Callable[[], dict]]:
    """Subscribed to the conversation's chat channel, as the API's relay is; yields "the next frame"."""
    pubsub = sync_redis().pubsub()
    pubsub.subscribe(events.channel(conversation_id))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # subscribed before anything is published

    def next_frame() -> dict:
        message = pubsub.get_message(timeout=5)
        assert message is not None, "no frame on the conversation's channel"
        return json.loads(message["data"])

    try:
        yield next_frame
    finally:
        pubsub.close()


async def _status(client, tenant: TenantCtx, message_id: str, visitor: str) -> dict:
    response = await client.get(
        f"/api/v1/chat/messages/{message_id}",
        params={"visitor_id": visitor},
        headers={"X-Widget-Key": tenant.created.widget_key},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_lost_chat_answer_is_sent_again_once_and_answered(
    client, tenant, stub_worker, windows, monkeypatch
) -> None:
    upload = await client.post(
        "/api/v1/documents",
        headers=tenant.admin,
        files={
            "file": ("faq.csv", qa_csv([("R1", "How long does a refund take?", "Refunds take five working days.")]))
        },
    )
    assert upload.status_code == 202
    stub_worker()
    with _lost(monkeypatch, answer_message):  # the question waits as pending; its job is gone
        message_id = await _queue(client, tenant, "How long does a refund take?", "lost-1")
    fresh = recovery.sweep()
    assert message_id not in fresh.messages  # pending for a moment is not lost
    _backdate("messages", "created_at", message_id, 1.5)
    first, second = recovery.sweep(), recovery.sweep()
    assert first.messages == [message_id] and second.messages == []  # re-sent once, not every tick
    assert (await _status(client, tenant, message_id, "lost-1"))["status"] == "pending"
    stub_worker()
    answered = await _status(client, tenant, message_id, "lost-1")
    assert answered["status"] == "answered" and "five working days" in answered["reply"]["text"]
    assert recovery.sweep().messages == []  # answered rows are never picked up again


async def test_a_question_pending_past_the_give_up_time_is_marked_failed_and_the_customer_told(
    client, tenant, windows, monkeypatch
) -> None:
    with _lost(monkeypatch, answer_message):
        message_id, conversation_id = await _queue_in(client, tenant, "Is anyone there?", "lost-2")
    _backdate("messages", "created_at", message_id, 4)
    with _listening(conversation_id) as frames:
        result = recovery.sweep()
        frame = frames()
    assert result.gave_up >= 1 and message_id not in result.messages
    assert frame["type"] == "error" and frame["customer_message_id"] == message_id
    assert frame == events.failed(message_id)  # the frame the chat actor publishes when it gives up
    failed = await _status(client, tenant, message_id, "lost-2")
    assert failed["status"] == "failed" and failed.get("reply") is None


async def test_a_lost_ingestion_is_sent_again_and_the_document_becomes_ready(
    client, tenant, stub_worker, windows, monkeypatch
) -> None:
    with _lost(monkeypatch, ingest_document):
        upload = await client.post(
            "/api/v1/documents",
            headers=tenant.admin,
            files={
                "file": (
                    "lost.csv",
                    qa_csv([("L1", "Do you ship abroad?", "Yes."), ("L2", "Is there a warranty?", "Two years.")]),
                )
            },
        )
    assert upload.status_code == 202
    document_id = upload.json()["id"]
    assert document_id not in recovery.sweep().documents
    _backdate("documents", "updated_at", document_id, 2)
    assert recovery.sweep().documents == [document_id]
    stub_worker()
    document = (await client.get(f"/api/v1/documents/{document_id}", headers=tenant.admin)).json()
    assert document["status"] == "ready" and document["chunk_count"] == 2
