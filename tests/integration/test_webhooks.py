"""Outbound webhooks: signed deliveries of hand-offs and CSAT, retried with backoff, recorded per attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
from sqlalchemy import func, select, update

from core.db import tenant_session_sync
from core.models import Webhook, WebhookDelivery
from core.settings import get_settings
from tests.support.receivers import free_port, webhook_receiver

pytestmark = pytest.mark.integration


def widget(tenant) -> dict[str, str]:
    return {"X-Widget-Key": tenant.created.widget_key}


async def create_hook(client, tenant, url: str, events: list[str]) -> dict:
    response = await client.post("/api/v1/webhooks", headers=tenant.admin, json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return response.json()


async def start_conversation(client, tenant, visitor: str = "v-hook") -> str:
    response = await client.post(
        "/api/v1/chat", headers=widget(tenant), json={"message": "Do you ship to Canada?", "visitor_id": visitor}
    )
    assert response.status_code == 200, response.text
    return response.json()["conversation_id"]


async def hand_off(client, tenant, conversation_id: str, visitor: str = "v-hook") -> dict:
    response = await client.post(
        f"/api/v1/chat/conversations/{conversation_id}/handoff",
        headers=widget(tenant),
        json={"visitor_id": visitor, "reason": "wants a person"},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def deliveries(client, tenant, hook_id: str) -> list[dict]:
    response = await client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=tenant.admin)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_hand_off_is_posted_once_signed_with_the_webhooks_secret(client, tenant, stub_worker) -> None:
    with webhook_receiver() as receiver:
        hook = await create_hook(client, tenant, receiver.url, ["handoff.requested"])
        assert hook["secret"].startswith("whsec_") and hook["events"] == ["handoff.requested"]
        conversation_id = await start_conversation(client, tenant)
        await hand_off(client, tenant, conversation_id)
        stub_worker()
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    expected = "sha256=" + hmac.new(hook["secret"].encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-kefu-signature"] == expected
    assert request.headers["x-kefu-event"] == "handoff.requested"
    assert request.headers["content-type"] == "application/json"
    event = json.loads(request.body)
    assert event["event"] == "handoff.requested" and event["tenant_id"] == str(tenant.id)
    assert event["data"]["conversation_id"] == conversation_id and event["data"]["source"] == "customer"
    assert event["data"]["question"] == "Do you ship to Canada?"
    [delivery] = await deliveries(client, tenant, hook["id"])
    assert delivery["status"] == "delivered" and delivery["event_id"] == event["id"]
    assert [(a["attempt"], a["status_code"]) for a in delivery["attempts"]] == [(1, 200)]
    listed = (await client.get("/api/v1/webhooks", headers=tenant.admin)).json()["items"]
    assert listed[0]["deliveries"]["delivered"] == 1 and "secret" not in listed[0]
    assert hook["secret"] not in json.dumps(listed)


async def test_the_bots_own_hand_off_is_posted_too(client, tenant, stub_worker) -> None:
    with webhook_receiver() as receiver:
        await create_hook(client, tenant, receiver.url, ["handoff.requested"])
        response = await client.post(
            "/api/v1/chat", headers=widget(tenant), json={"message": "转人工", "visitor_id": "v-bot"}
        )
        assert response.json()["handoff"] is True, response.text
        stub_worker()
    [request] = receiver.requests
    data = json.loads(request.body)["data"]
    assert data["source"] == "bot" and data["conversation_id"] == response.json()["conversation_id"]


async def test_csat_goes_only_to_webhooks_that_asked_for_it(client, tenant, stub_worker) -> None:
    with webhook_receiver() as csat_receiver, webhook_receiver() as handoff_receiver:
        await create_hook(client, tenant, csat_receiver.url, ["csat.submitted"])
        await create_hook(client, tenant, handoff_receiver.url, ["handoff.requested"])
        conversation_id = await start_conversation(client, tenant, "v-csat")
        rated = await client.post(
            f"/api/v1/chat/conversations/{conversation_id}/csat",
            headers=widget(tenant),
            json={"visitor_id": "v-csat", "score": 4},
        )
        assert rated.status_code == 200
        stub_worker()
    assert [json.loads(r.body)["data"] for r in csat_receiver.requests] == [
        {"conversation_id": conversation_id, "score": 4}
    ]
    assert handoff_receiver.requests == []


async def test_a_failing_receiver_is_retried_and_delivered_once(client, tenant, stub_worker) -> None:
    with webhook_receiver() as receiver:
        receiver.statuses = [500, 503]
        hook = await create_hook(client, tenant, receiver.url, ["handoff.requested"])
        await hand_off(client, tenant, await start_conversation(client, tenant))
        stub_worker()
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1  # the same event, byte for byte
    [delivery] = await deliveries(client, tenant, hook["id"])
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]


async def test_a_receiver_that_is_down_is_retried_then_failed_without_slowing_chat(client, tenant, stub_worker) -> None:
    hook = await create_hook(client, tenant, f"http://127.0.0.1:{free_port()}/down", ["handoff.requested"])
    conversation_id = await start_conversation(client, tenant)
    started = time.perf_counter()
    answer = await hand_off(client, tenant, conversation_id)
    assert answer["status"] == "handed_off" and time.perf_counter() - started < 2
    stub_worker(retries_exhausted=True)
    [delivery] = await deliveries(client, tenant, hook["id"])
    retries = get_settings().notify_max_retries
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == retries + 1
    assert all(a["status_code"] is None and "ConnectError" in a["error"] for a in delivery["attempts"])


async def test_a_slow_receiver_times_out_and_is_marked_failed(client, tenant, stub_worker, monkeypatch) -> None:
    monkeypatch.setenv("KEFU_WEBHOOK_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("KEFU_NOTIFY_MAX_RETRIES", "1")
    get_settings.cache_clear()
    try:
        with webhook_receiver() as receiver:
            receiver.delay_seconds = 1.0
            hook = await create_hook(client, tenant, receiver.url, ["handoff.requested"])
            await hand_off(client, tenant, await start_conversation(client, tenant))
            stub_worker(retries_exhausted=True)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    [delivery] = await deliveries(client, tenant, hook["id"])
    assert delivery["status"] == "failed"
    assert [a["error"].split(":")[0] for a in delivery["attempts"]] == ["ReadTimeout", "ReadTimeout"]


async def test_a_delivery_job_sent_twice_posts_once(client, tenant, stub_worker) -> None:
    from chat.notification_tasks import send_delivery

    with webhook_receiver() as receiver:
        hook = await create_hook(client, tenant, receiver.url, ["handoff.requested"])
        await hand_off(client, tenant, await start_conversation(client, tenant))
        [delivery] = await deliveries(client, tenant, hook["id"])
        send_delivery(tenant.id, delivery["id"])  # a redelivery, or the sweep racing the first job
        stub_worker()
        send_delivery(tenant.id, delivery["id"])
        stub_worker()
    assert len(receiver.requests) == 1


async def test_a_private_address_is_refused_at_delivery_without_retrying(
    client, tenant, stub_worker, monkeypatch
) -> None:
    with webhook_receiver() as receiver:
        hook = await create_hook(client, tenant, receiver.url, ["handoff.requested"])
        monkeypatch.setenv("KEFU_WEBHOOK_ALLOW_PRIVATE", "false")
        get_settings.cache_clear()
        try:
            await hand_off(client, tenant, await start_conversation(client, tenant))
            stub_worker()
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
    assert receiver.requests == []
    [delivery] = await deliveries(client, tenant, hook["id"])
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 1
    assert "private or reserved" in delivery["attempts"][0]["error"]


async def test_a_delivery_the_broker_refused_is_sent_by_the_sweep(client, tenant, stub_worker, monkeypatch) -> None:
    from backend.recovery import sweep
    from chat import notifications

    def broker_down(*args: object) -> None:
        raise ConnectionError("broker unreachable")

    with webhook_receiver() as receiver:
        hook = await create_hook(client, tenant, receiver.url, ["handoff.requested"])
        monkeypatch.setattr(notifications, "send_delivery", broker_down)
        answer = await hand_off(client, tenant, await start_conversation(client, tenant))
        monkeypatch.undo()
        assert answer["status"] == "handed_off"  # the customer never hears about the broker
        stub_worker()
        assert (await deliveries(client, tenant, hook["id"]))[0]["status"] == "pending"
        with tenant_session_sync(tenant.id) as session:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == uuid.UUID(hook["id"]))
                .values(created_at=func.now() - func.make_interval(0, 0, 0, 0, 1))
            )
        resent = sweep()
        stub_worker()
    assert len(resent.deliveries) == 1 and len(receiver.requests) == 1
    assert (await deliveries(client, tenant, hook["id"]))[0]["status"] == "delivered"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "ftp://example.com/x", "events": ["handoff.requested"]}, "https://"),
        ({"url": "https://user:pw@example.com/x", "events": ["handoff.requested"]}, "user name or password"),
        ({"url": "https://example.com/x", "events": []}, "non-empty list"),
        ({"url": "https://example.com/x", "events": ["order.paid"]}, "Unknown events: order.paid"),
        ({"url": "https://no-such-host.invalid/x", "events": ["csat.submitted"]}, "could not be resolved"),
        ({"url": "x" * 3000, "events": ["csat.submitted"]}, "at most 2000"),
    ],
)
async def test_bad_webhooks_are_refused_with_what_to_fix(client, tenant, body, message) -> None:
    response = await client.post("/api/v1/webhooks", headers=tenant.admin, json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    with tenant_session_sync(tenant.id) as session:
        assert session.scalar(select(func.count()).select_from(Webhook)) == 0


async def test_a_private_webhook_url_is_refused_when_creating_it(client, tenant, monkeypatch) -> None:
    monkeypatch.setenv("KEFU_WEBHOOK_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    try:
        for url in ("http://127.0.0.1:8080/x", "http://169.254.169.254/latest", "http://[::ffff:10.0.0.1]/x"):
            response = await client.post(
                "/api/v1/webhooks", headers=tenant.admin, json={"url": url, "events": ["csat.submitted"]}
            )
            assert response.status_code == 422 and "private or reserved" in response.json()["detail"], url
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_deleting_a_webhook_stops_its_deliveries(client, tenant, stub_worker) -> None:
    with webhook_receiver() as receiver:
        hook = await create_hook(client, tenant, receiver.url, ["handoff.requested"])
        assert (await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=tenant.admin)).status_code == 204
        await hand_off(client, tenant, await start_conversation(client, tenant))
        stub_worker()
    assert receiver.requests == []
    assert (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=tenant.admin)).status_code == 404
