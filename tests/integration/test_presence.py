"""Agents online: an agent with the inbox open is a seat in Redis with a lease; inside office hours
with no one online the widget is told to say so and ask for a contact, and the conversation waits."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chat import presence
from core.db import tenant_session_sync
from core.models import Conversation
from tests.factories import TenantCtx

pytestmark = pytest.mark.integration
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NO_AGENT = {"open": True, "agent_online": False, "ask_contact": True, "reason": "no_agent"}
SOMEONE = {"open": True, "agent_online": True, "ask_contact": False, "reason": None}


def widget(tenant: TenantCtx) -> dict[str, str]:
    return {"X-Widget-Key": tenant.created.widget_key}


async def service(client, tenant: TenantCtx) -> dict:
    return (await client.get("/api/v1/widget/config", headers=widget(tenant))).json()["service"]


async def hand_off(client, tenant: TenantCtx, visitor: str) -> tuple[str, dict]:
    chat = await client.post("/api/v1/chat", headers=widget(tenant), json={"message": "hello", "visitor_id": visitor})
    conversation_id = chat.json()["conversation_id"]
    handed = await client.post(f"/api/v1/chat/conversations/{conversation_id}/handoff", headers=widget(tenant),
                               json={"visitor_id": visitor})
    assert handed.status_code == 200, handed.text
    return conversation_id, handed.json()


async def test_inside_office_hours_with_no_agent_online_the_customer_is_asked_for_a_contact(client, tenant) -> None:
    assert await service(client, tenant) == NO_AGENT
    conversation_id, handed = await hand_off(client, tenant, "v-alone")
    assert {k: handed[k] for k in NO_AGENT} == NO_AGENT
    assert handed["inbox"]["status"] == "waiting"  # it waits for the team all the same
    with tenant_session_sync(tenant.id) as session:
        assert session.get(Conversation, uuid.UUID(conversation_id)).inbox_status == "waiting"


async def test_an_agent_at_the_inbox_means_a_colleague_answers_soon(client, tenant) -> None:
    seat = presence.Seat(tenant.id, uuid.uuid4(), "s-1")
    assert await presence.arrive(seat) is True  # the tenant's first agent online
    try:
        assert await service(client, tenant) == SOMEONE
        _, handed = await hand_off(client, tenant, "v-served")
        assert handed["ask_contact"] is False and handed["inbox"] == {"status": "waiting", "position": 1,
                                                                      "agent_name": None}
    finally:
        assert await presence.leave(seat) is True  # the last one left
    assert await service(client, tenant) == NO_AGENT


async def test_one_agent_with_two_pages_counts_once_until_both_close(tenant) -> None:
    agent = uuid.uuid4()
    first, second = presence.Seat(tenant.id, agent, "tab-1"), presence.Seat(tenant.id, agent, "tab-2")
    other = presence.Seat(tenant.id, uuid.uuid4(), "tab-3")
    assert await presence.arrive(first) is True
    assert await presence.arrive(second) is False
    assert await presence.arrive(other) is False
    assert await presence.agents_online(tenant.id) == 2
    assert await presence.leave(first) is False and await presence.agents_online(tenant.id) == 2
    assert await presence.leave(other) is False and await presence.agents_online(tenant.id) == 1
    assert await presence.leave(second) is True and await presence.agents_online(tenant.id) == 0


async def test_a_seat_whose_heartbeats_stop_lapses_and_a_late_heartbeat_brings_it_back(tenant) -> None:
    seat = presence.Seat(tenant.id, uuid.uuid4(), "frozen-tab")
    await presence.arrive(seat, lease=0.4)
    assert await presence.agents_online(tenant.id) == 1
    await asyncio.sleep(0.6)  # the page froze, or its API process died: no leave, no heartbeat
    assert await presence.agents_online(tenant.id) == 0
    assert await presence.renew(seat, lease=5) is True  # back online: waiting customers are told
    await presence.leave(seat)


async def test_outside_office_hours_closed_wins_over_an_agent_online(client, tenant) -> None:
    closed = {"office_hours_enabled": True, "timezone": "Asia/Shanghai", "hours": {d: [] for d in DAYS}}
    assert (await client.put("/api/v1/settings/service", headers=tenant.admin, json=closed)).status_code == 200
    seat = presence.Seat(tenant.id, uuid.uuid4(), "late-shift")
    await presence.arrive(seat)
    try:
        assert await service(client, tenant) == {"open": False, "agent_online": True, "ask_contact": True,
                                                 "reason": "closed"}
    finally:
        await presence.leave(seat)


async def test_without_redis_office_hours_alone_decide(client, tenant, monkeypatch) -> None:
    import redis

    def down():
        raise redis.ConnectionError("redis is down")

    monkeypatch.setattr(presence, "async_redis", down)
    assert await presence.arrive(presence.Seat(tenant.id, uuid.uuid4(), "s")) is False
    assert await presence.availability(tenant.id) == {"open": True, "agent_online": None, "ask_contact": False,
                                                      "reason": None}
