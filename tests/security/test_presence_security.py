"""Agents online (chat.presence) through the inbox socket of a real API process: an agent of tenant A
online tells A's customers someone is there and B's nothing; only a signed-in agent (not an analyst,
not an API key) counts; a closed socket stops counting at once and waiting customers are told."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.security.world import seed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(client):
    return await seed(client, "Presence A"), await seed(client, "Presence B")


async def _service(http: httpx.AsyncClient, tenant) -> dict:
    config = await http.get("/api/v1/widget/config", headers=tenant.widget)
    assert config.status_code == 200, config.text
    return config.json()["service"]


async def _auth(url: str, token: str) -> tuple[websockets.ClientConnection, dict]:
    socket = await websockets.connect(url)
    await socket.send(json.dumps({"type": "auth", "token": token}))
    return socket, json.loads(await asyncio.wait_for(socket.recv(), 10))


def test_an_agent_of_a_online_is_not_an_agent_of_b_online(live_api, world) -> None:
    a, b = world
    url = live_api.replace("http://", "ws://") + "/api/v1/inbox/ws"

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=live_api, timeout=30) as http:
            assert (await _service(http, a))["agent_online"] is False
            socket, ready = await _auth(url, a.agent_token["Authorization"].removeprefix("Bearer "))
            assert ready["type"] == "ready" and ready["heartbeat_seconds"] > 0
            try:
                assert (await _service(http, a))["agent_online"] is True
                assert await _service(http, b) == {"open": True, "agent_online": False, "ask_contact": True,
                                                   "reason": "no_agent"}
            finally:
                await socket.close()
            await asyncio.sleep(0.3)  # the server notices the close
            assert (await _service(http, a))["agent_online"] is False

    asyncio.run(scenario())


@pytest.mark.parametrize("who", ["analyst_token", "admin"])
def test_only_a_signed_in_agent_counts_as_someone_online(live_api, world, who) -> None:
    a, _ = world
    url = live_api.replace("http://", "ws://") + "/api/v1/inbox/ws"

    async def scenario() -> None:
        token = getattr(a, who)["Authorization"].removeprefix("Bearer ")
        socket, first = await _auth(url, token)
        try:
            # An analyst is refused the inbox; an admin API key may listen, but no person is there.
            assert first["type"] == ("error" if who == "analyst_token" else "ready"), first
            async with httpx.AsyncClient(base_url=live_api, timeout=30) as http:
                assert (await _service(http, a))["agent_online"] is False
        finally:
            await socket.close()

    asyncio.run(scenario())


def test_a_waiting_customer_hears_when_the_first_agent_arrives_and_the_last_leaves(live_api, world) -> None:
    _, b = world
    inbox = live_api.replace("http://", "ws://") + "/api/v1/inbox/ws"
    chat = live_api.replace("http://", "ws://") + f"/api/v1/chat/ws?key={b.widget_key}"

    async def queue_frame(customer) -> dict:
        while True:
            frame = json.loads(await asyncio.wait_for(customer.recv(), 10))
            if frame.get("type") == "queue":
                return frame

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=live_api, timeout=30) as http:
            handed = await http.post(f"/api/v1/chat/conversations/{b.conversation_id}/handoff", headers=b.widget,
                                     json={"visitor_id": b.visitor_id})
            assert handed.status_code == 200 and handed.json()["reason"] == "no_agent", handed.text
        async with websockets.connect(chat) as customer:
            await customer.send(json.dumps({"type": "subscribe", "conversation_id": b.conversation_id,
                                            "visitor_id": b.visitor_id}))
            agent, ready = await _auth(inbox, b.agent_token["Authorization"].removeprefix("Bearer "))
            assert ready["type"] == "ready"
            arrived = await queue_frame(customer)
            assert arrived["ask_contact"] is False and arrived["agent_online"] is True and arrived["position"] >= 1
            await agent.close()
            left = await queue_frame(customer)
            assert left["ask_contact"] is True and left["reason"] == "no_agent"

    asyncio.run(scenario())
