"""The inbox's live socket: a credential of tenant A never hears tenant B's inbox; analysts and
unauthenticated sockets are refused."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.security.world import seed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(client):
    return await seed(client, "Inbox A"), await seed(client, "Inbox B")


async def _frames(url: str, first: dict, *, then=None, seconds: float = 2.0) -> list[dict]:
    frames: list[dict] = []
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps(first))
        if then is not None:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
            await then()
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(socket.recv(), seconds)))
        except (TimeoutError, websockets.ConnectionClosed):
            pass
    return frames


def test_an_agent_of_a_hears_nothing_of_bs_handoffs(live_api, world) -> None:
    attacker, victim = world
    url = live_api.replace("http://", "ws://") + "/api/v1/inbox/ws"
    import httpx

    async def victim_hands_off() -> None:
        async with httpx.AsyncClient(base_url=live_api) as http:
            asked = await http.post(
                f"/api/v1/chat/conversations/{victim.conversation_id}/handoff",
                headers=victim.widget,
                json={"visitor_id": victim.visitor_id},
            )
            assert asked.status_code == 200, asked.text
            said = await http.post(
                "/api/v1/chat",
                headers=victim.widget,
                json={
                    "message": f"{victim.secret} please",
                    "conversation_id": victim.conversation_id,
                    "visitor_id": victim.visitor_id,
                },
            )
            assert said.status_code == 202, said.text

    token = attacker.agent_token["Authorization"].removeprefix("Bearer ")
    frames = asyncio.run(_frames(url, {"type": "auth", "token": token}, then=victim_hands_off))
    assert frames[0]["type"] == "ready"
    text = json.dumps(frames)
    assert victim.conversation_id not in text and victim.secret not in text
    assert all(f["type"] in ("ready", "ping") for f in frames), frames


@pytest.mark.parametrize("first", [{"type": "auth", "token": "kefu_tk_forged"}, {"type": "hello"}, {}])
def test_the_inbox_socket_refuses_without_a_valid_login(live_api, first) -> None:
    url = live_api.replace("http://", "ws://") + "/api/v1/inbox/ws"
    frames = asyncio.run(_frames(url, first))
    assert frames and frames[0]["type"] == "error" and frames[0]["status"] == 401, frames


def test_the_inbox_socket_refuses_analysts(live_api, world) -> None:
    tenant, _ = world
    url = live_api.replace("http://", "ws://") + "/api/v1/inbox/ws"
    token = tenant.analyst_token["Authorization"].removeprefix("Bearer ")
    frames = asyncio.run(_frames(url, {"type": "auth", "token": token}))
    assert frames[0]["status"] == 403 and "needs the agent role" in frames[0]["detail"], frames
