"""Issue 20, API conventions: a resent question was stored twice.

A widget that lost the response to `POST /api/v1/chat` cannot know whether its question arrived;
sending it again stored it again (and answered it twice). Now an `Idempotency-Key` header makes the
resend safe: the first request's response comes back and the question is stored once, whichever
API process the resend reaches (the key lives in Redis).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from core.db import tenant_session_sync
from core.models import Message
from tests.factories import make_tenant

pytestmark = pytest.mark.integration


def stored_questions(tenant_id, text: str) -> int:
    with tenant_session_sync(tenant_id) as session:
        return session.scalar(
            select(func.count()).select_from(Message).where(Message.role == "customer", Message.text == text)
        )


async def test_a_resend_with_the_same_key_is_answered_once(client) -> None:
    shop = make_tenant("Idempotent shop")
    headers = {"X-Widget-Key": shop.created.widget_key, "Idempotency-Key": str(uuid.uuid4())}
    body = {"message": "Do you ship to Hong Kong?", "visitor_id": "idem-visitor"}
    first = await client.post("/api/v1/chat", headers=headers, json=body)
    again = await client.post("/api/v1/chat", headers=headers, json=body)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert stored_questions(shop.id, body["message"]) == 1

    other = await client.post("/api/v1/chat", headers=headers, json={**body, "message": "Something else?"})
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    bad = await client.post("/api/v1/chat", headers={**headers, "Idempotency-Key": "k" * 300}, json=body)
    assert bad.status_code == 422 and "Idempotency-Key" in bad.json()["detail"]
    fresh = await client.post("/api/v1/chat", headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, json=body)
    assert fresh.status_code == 200 and fresh.json()["message_id"] != first.json()["message_id"]


async def test_queued_resend_is_queued_once(client) -> None:
    shop = make_tenant("Idempotent queue")
    headers = {"X-Widget-Key": shop.created.widget_key, "Idempotency-Key": str(uuid.uuid4())}
    body = {"message": "Where is my parcel?", "visitor_id": "idem-queued"}
    first = await client.post("/api/v1/chat?mode=queued", headers=headers, json=body)
    again = await client.post("/api/v1/chat?mode=queued", headers=headers, json=body)
    assert first.status_code == again.status_code == 202
    assert again.json()["message_id"] == first.json()["message_id"]
    assert stored_questions(shop.id, body["message"]) == 1


async def test_a_refused_request_releases_its_key(client) -> None:
    shop = make_tenant("Idempotent retry")
    headers = {"X-Widget-Key": shop.created.widget_key, "Idempotency-Key": str(uuid.uuid4())}
    refused = await client.post("/api/v1/chat", headers=headers, json={"message": "x" * 5000})
    assert refused.status_code == 422
    assert (await client.post("/api/v1/chat", headers=headers, json={"message": "x" * 5000})).status_code == 422


def test_resends_to_two_api_processes_store_one_question(live_api, api_behind_proxy) -> None:
    shop = make_tenant("Idempotent cluster")
    headers = {"X-Widget-Key": shop.created.widget_key, "Idempotency-Key": str(uuid.uuid4())}
    body = {"message": "How long does delivery take?", "visitor_id": "idem-cluster"}

    def send(base: str) -> httpx.Response:
        return httpx.post(f"{base}/api/v1/chat", headers=headers, json=body, timeout=30)

    with ThreadPoolExecutor(4) as pool:
        racing = list(pool.map(send, [live_api, api_behind_proxy] * 2))
    assert {r.status_code for r in racing} <= {200, 409}, [r.text for r in racing]
    answered = [r.json()["message_id"] for r in racing if r.status_code == 200]
    assert answered and len(set(answered)) == 1
    late = [send(live_api), send(api_behind_proxy)]
    assert [r.json()["message_id"] for r in late] == answered[:1] * 2
    assert stored_questions(shop.id, body["message"]) == 1
