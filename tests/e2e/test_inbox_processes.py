"""The agent inbox across API processes: the customer's widget socket on API 1, the agent's inbox
socket and replies on API 2. Each side sees the other's messages (Redis pub/sub), once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import websockets

from tests.e2e.conftest import ROOT, _stop, free_port, kefu, service_env, wait_ready

pytestmark = pytest.mark.e2e
PUSH_SECONDS = 3.0  # the bound is 1 s (bench/handoff_load.py measures it); a shared test machine is slower


@pytest.fixture(scope="module")
def second_api(services):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "api", "--port", str(port)], env=service_env(), cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, process)
    yield base
    _stop(process)


@pytest.fixture(scope="module")
def shop(services) -> dict:
    suffix = uuid.uuid4().hex[:6]
    created = kefu(
        "tenant",
        "create",
        f"Inbox E2E {suffix}",
        "--admin-email",
        f"inbox-{suffix}@example.com",
        "--admin-password",
        "password-123",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)
    email = f"lin-{suffix}@example.com"
    added = kefu(
        "user",
        "add",
        "--tenant",
        tenant["tenant_id"],
        "--email",
        email,
        "--role",
        "agent",
        "--name",
        "Lin",
        env={**service_env(), "KEFU_USER_PASSWORD": "password-123"},
    )
    assert added.returncode == 0, added.stderr
    tenant["agent_email"] = email
    return tenant


async def next_frame(socket, kind: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), PUSH_SECONDS))
        if frame.get("type") == kind:
            return frame


def test_customer_on_api_1_and_agent_on_api_2_see_each_other(services, second_api, shop) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            login = await http.post(
                f"{second_api}/api/v1/auth/login", json={"email": shop["agent_email"], "password": "password-123"}
            )
            token = login.json()["token"]
            agent_headers = {"Authorization": f"Bearer {token}"}
            async with (
                websockets.connect(second_api.replace("http", "ws") + "/api/v1/inbox/ws") as inbox,
                websockets.connect(
                    services.replace("http", "ws") + f"/api/v1/chat/ws?key={shop['widget_key']}"
                ) as widget,
            ):
                await inbox.send(json.dumps({"type": "auth", "token": token}))
                assert (await next_frame(inbox, "ready"))["type"] == "ready"
                await widget.send(json.dumps({"type": "message", "message": "转人工", "visitor_id": "v-e2e"}))
                final = await next_frame(widget, "final")
                assert final["handoff"] is True
                conversation_id = final["conversation_id"]
                handoff = await next_frame(inbox, "handoff")
                assert handoff["conversation_id"] == conversation_id

                taken = await http.post(f"{second_api}/api/v1/inbox/{conversation_id}/assign", headers=agent_headers)
                assert taken.status_code == 200, taken.text
                assert (await next_frame(widget, "agent_joined"))["agent_name"] == "Lin"

                await widget.send(
                    json.dumps(
                        {
                            "type": "message",
                            "message": "Where is my parcel?",
                            "conversation_id": conversation_id,
                            "visitor_id": "v-e2e",
                        }
                    )
                )
                accepted = await next_frame(widget, "accepted")
                assert accepted["status"] == "with_agent"
                pushed = await next_frame(inbox, "customer_message")
                assert pushed["text"] == "Where is my parcel?" and pushed["message_id"] == accepted["message_id"]

                started = time.monotonic()
                body = {"text": "It left the warehouse today.", "client_ref": "e2e-1"}
                sent = await http.post(
                    f"{second_api}/api/v1/inbox/{conversation_id}/messages", headers=agent_headers, json=body
                )
                again = await http.post(
                    f"{second_api}/api/v1/inbox/{conversation_id}/messages", headers=agent_headers, json=body
                )  # a retry after a dropped connection
                assert (sent.status_code, again.status_code) == (201, 200)
                reply = await next_frame(widget, "agent_message")
                assert time.monotonic() - started < PUSH_SECONDS
                assert reply == {
                    **reply,
                    "text": "It left the warehouse today.",
                    "agent_name": "Lin",
                    "message_id": sent.json()["message_id"],
                }
                with pytest.raises(TimeoutError):  # the retry is not delivered a second time
                    await next_frame(widget, "agent_message")

                resolved = await http.post(
                    f"{second_api}/api/v1/inbox/{conversation_id}/resolve", headers=agent_headers
                )
                assert resolved.status_code == 200
                assert (await next_frame(widget, "back_to_bot"))["reason"] == "resolved"
            history = await http.get(
                f"{services}/api/v1/chat/conversations/{conversation_id}/messages",
                params={"visitor_id": "v-e2e"},
                headers={"X-Widget-Key": shop["widget_key"]},
            )
            roles = [(m["role"], m.get("agent_name")) for m in history.json()["messages"]]
            assert roles[-2:] == [("customer", None), ("agent", "Lin")]

    asyncio.run(scenario())


def test_an_agent_online_on_api_2_is_seen_by_customers_on_api_1(services, second_api, shop) -> None:
    """Presence lives in Redis: the agent's inbox page on one process, the customer on another."""

    async def queue_frame(widget, *, online: bool) -> dict:
        while (frame := await next_frame(widget, "queue"))["agent_online"] is not online:
            pass
        return frame

    async def service_on_api_1(http: httpx.AsyncClient) -> dict:
        config = await http.get(f"{services}/api/v1/widget/config", headers={"X-Widget-Key": shop["widget_key"]})
        return config.json()["service"]

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            deadline = time.monotonic() + 10  # an earlier test's agent socket may still be closing
            while (await service_on_api_1(http))["agent_online"] and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert (await service_on_api_1(http))["reason"] == "no_agent"
            login = await http.post(
                f"{second_api}/api/v1/auth/login", json={"email": shop["agent_email"], "password": "password-123"}
            )
            token = login.json()["token"]
            async with websockets.connect(
                services.replace("http", "ws") + f"/api/v1/chat/ws?key={shop['widget_key']}"
            ) as widget:
                await widget.send(json.dumps({"type": "message", "message": "转人工", "visitor_id": "v-presence"}))
                final = await next_frame(widget, "final")
                assert final["handoff"] is True and "没有客服在线" in final["answer"]  # no colleague is online
                async with websockets.connect(second_api.replace("http", "ws") + "/api/v1/inbox/ws") as inbox:
                    await inbox.send(json.dumps({"type": "auth", "token": token}))
                    await next_frame(inbox, "ready")
                    arrived = await queue_frame(widget, online=True)  # the hand-off's own frame said "nobody"
                    assert arrived["ask_contact"] is False and arrived["position"] >= 1, arrived
                    assert (await service_on_api_1(http))["agent_online"] is True
                    await inbox.send(json.dumps({"type": "heartbeat"}))
                left = await queue_frame(widget, online=False)
                assert (left["ask_contact"], left["reason"]) == (True, "no_agent"), left
            assert (await service_on_api_1(http))["agent_online"] is False

    asyncio.run(scenario())
