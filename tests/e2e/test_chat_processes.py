"""Queued chat across processes: a question sent to API 2 is answered by the worker and arrives on a
WebSocket held by API 1 (Redis broker + pub/sub, real processes)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import httpx
import pytest
import websockets

from tests.e2e.conftest import ROOT, _stop, free_port, kefu, service_env, wait_ready
from tests.factories import qa_csv

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def second_api(services):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "backend.cli", "api", "--port", str(port)],
                               env=service_env(), cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, process)
    yield base
    _stop(process)


@pytest.fixture(scope="module")
def chat_tenant(services) -> dict:
    result = kefu("tenant", "create", "Chat E2E", "--admin-email", "chat-e2e@example.com",
                  "--admin-password", "password-123", "--json")
    assert result.returncode == 0, result.stderr
    tenant = json.loads(result.stdout)
    headers = {"Authorization": f"Bearer {tenant['admin_api_key']}"}
    data = qa_csv([("R1", "How long does a refund take?", "Refunds arrive within 3-7 working days.")])
    document = httpx.post(f"{services}/api/v1/documents", headers=headers, files={"file": ("faq.csv", data)},
                          timeout=30).json()
    deadline = time.monotonic() + 60
    while httpx.get(f"{services}/api/v1/documents/{document['id']}", headers=headers).json()["status"] != "ready":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return tenant


def test_answer_to_a_message_queued_on_api_2_reaches_a_socket_on_api_1(services, second_api, chat_tenant) -> None:
    key = chat_tenant["widget_key"]

    async def scenario() -> dict:
        ws_url = services.replace("http://", "ws://") + f"/api/v1/chat/ws?key={key}"
        async with websockets.connect(ws_url) as socket:
            # Open the conversation on API 1 so the socket is subscribed to it.
            await socket.send(json.dumps({"type": "message", "message": "hello", "visitor_id": "e2e-v",
                                          "mode": "queued"}))
            accepted = json.loads(await asyncio.wait_for(socket.recv(), 30))
            assert accepted["type"] == "accepted"
            while (frame := json.loads(await asyncio.wait_for(socket.recv(), 60)))["type"] != "final":
                pass
            conversation_id = accepted["conversation_id"]
            async with httpx.AsyncClient() as client:
                queued = await client.post(f"{second_api}/api/v1/chat?mode=queued", headers={"X-Widget-Key": key},
                                           json={"message": "How long does a refund take?", "visitor_id": "e2e-v",
                                                 "conversation_id": conversation_id})
            assert queued.status_code == 202, queued.text
            message_id = queued.json()["message_id"]
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 60))
                if frame["type"] == "final" and frame["customer_message_id"] == message_id:
                    return frame

    final = asyncio.run(scenario())
    assert "3-7 working days" in final["answer"]
    assert final["citations"][0]["source_ref"] == "R1"
    polled = httpx.get(f"{second_api}/api/v1/chat/messages/{final['customer_message_id']}",
                       headers={"X-Widget-Key": key}, params={"visitor_id": "e2e-v"}).json()
    assert polled["status"] == "answered" and polled["reply"]["id"] == final["message_id"]


def test_streamed_answer_over_websocket(services, chat_tenant) -> None:
    async def scenario() -> list[dict]:
        ws_url = services.replace("http://", "ws://") + f"/api/v1/chat/ws?key={chat_tenant['widget_key']}"
        frames = []
        async with websockets.connect(ws_url) as socket:
            await socket.send(json.dumps({"type": "message", "message": "How long does a refund take?"}))
            while True:
                frames.append(json.loads(await asyncio.wait_for(socket.recv(), 60)))
                if frames[-1]["type"] in ("final", "error"):
                    return frames

    frames = asyncio.run(scenario())
    assert frames[-1]["type"] == "final" and frames[0]["type"] == "delta"
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == frames[-1]["answer"]


def test_websocket_with_a_bad_key_is_closed(services) -> None:
    async def scenario() -> int:
        ws_url = services.replace("http://", "ws://") + "/api/v1/chat/ws?key=kefu_wk_invalid"
        try:
            async with websockets.connect(ws_url) as socket:
                await socket.recv()
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 0
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
        return -1

    assert asyncio.run(scenario()) in (4401, 403)
