"""Revoked or downgraded credentials stop working on the very next request, in every API process."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select, update

from backend.api import widget_auth
from core.db import tenant_session_sync
from core.models import User, WidgetKey
from core.tenancy import add_user, create_api_key, revoke_api_key, revoke_widget_key
from tests.factories import TenantCtx, make_tenant

pytestmark = pytest.mark.integration
CONFIG = "/api/v1/widget/config"


@pytest.fixture
def shop() -> TenantCtx:
    return make_tenant("Revoke")


def widget_key_id(tenant: TenantCtx) -> uuid.UUID:
    with tenant_session_sync(tenant.id) as session:
        return session.scalar(select(WidgetKey.id).where(WidgetKey.key == tenant.created.widget_key))


def widget(tenant: TenantCtx) -> dict[str, str]:
    return {"X-Widget-Key": tenant.created.widget_key}


async def test_revoked_widget_key_stops_at_once_in_this_process(client, shop) -> None:
    assert (await client.get(CONFIG, headers=widget(shop))).status_code == 200  # now cached
    assert shop.created.widget_key in widget_auth._cache
    revoke_widget_key(shop.id, widget_key_id(shop))
    refused = await client.get(CONFIG, headers=widget(shop))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    chat = await client.post("/api/v1/chat", json={"message": "hello"}, headers=widget(shop))
    assert chat.status_code == 401


def test_revoked_widget_key_stops_at_once_in_another_api_process(live_api, shop) -> None:
    with httpx.Client(base_url=live_api, timeout=30) as other_process:
        assert other_process.get(CONFIG, headers=widget(shop)).status_code == 200  # cached over there
        assert other_process.get(CONFIG, headers=widget(shop)).status_code == 200
        revoke_widget_key(shop.id, widget_key_id(shop))
        assert other_process.get(CONFIG, headers=widget(shop)).status_code == 401


async def test_other_widget_keys_keep_working_after_a_revocation(client, shop) -> None:
    neighbour = make_tenant("Neighbour")
    assert (await client.get(CONFIG, headers=widget(neighbour))).status_code == 200
    revoke_widget_key(shop.id, widget_key_id(shop))
    assert (await client.get(CONFIG, headers=widget(neighbour))).status_code == 200


async def test_a_tenant_cannot_revoke_another_tenants_widget_key(client, shop) -> None:
    from core.errors import NotFound

    attacker = make_tenant("Attacker")
    with pytest.raises(NotFound):
        revoke_widget_key(attacker.id, widget_key_id(shop))
    assert (await client.get(CONFIG, headers=widget(shop))).status_code == 200


async def test_revoked_api_key_stops_at_once_on_every_kind_of_route(client, live_api, shop) -> None:
    with tenant_session_sync(shop.id) as session:
        key, secret = create_api_key(session, shop.id, "temp", "admin")
    bearer = {"Authorization": f"Bearer {secret}"}
    reads = ["/api/v1/documents", "/api/v1/settings/bot", "/api/v1/records", "/api/v1/tools"]
    for path in reads:
        assert (await client.get(path, headers=bearer)).status_code == 200
    with tenant_session_sync(shop.id) as session:
        revoke_api_key(session, shop.id, key.id)
    for path in reads:
        assert (await client.get(path, headers=bearer)).status_code == 401
    assert (await client.put("/api/v1/settings/bot", json={"persona": "x"}, headers=bearer)).status_code == 401
    with httpx.Client(base_url=live_api, timeout=30) as other_process:
        assert other_process.get("/api/v1/documents", headers=bearer).status_code == 401


async def login(client, email: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": "password-123"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_deactivated_user_token_stops_at_once(client, shop) -> None:
    token = await login(client, shop.created.admin_email)
    assert (await client.get("/api/v1/documents", headers=token)).status_code == 200
    with tenant_session_sync(shop.id) as session:
        session.execute(update(User).where(User.id == shop.created.admin_user_id).values(is_active=False))
    refused = await client.get("/api/v1/documents", headers=token)
    assert refused.status_code == 401 and "no longer has access" in refused.json()["detail"]


async def test_a_downgraded_user_loses_write_access_at_once(client, shop) -> None:
    email = f"editor-{uuid.uuid4().hex[:8]}@example.com"
    with tenant_session_sync(shop.id) as session:
        user = add_user(session, shop.id, email, "password-123", "admin")
        user_id = user.id
    token = await login(client, email)
    assert (await client.put("/api/v1/settings/bot", json={"persona": "v1"}, headers=token)).status_code == 200
    with tenant_session_sync(shop.id) as session:
        session.execute(update(User).where(User.id == user_id).values(role="analyst"))
    refused = await client.put("/api/v1/settings/bot", json={"persona": "v2"}, headers=token)
    assert refused.status_code == 403
    assert (await client.get("/api/v1/settings/bot", headers=token)).json()["persona"] == "v1"


def test_an_open_socket_stops_answering_once_its_key_is_revoked(live_api, shop) -> None:
    import asyncio
    import json

    import websockets

    async def ask(socket) -> dict:
        await socket.send(json.dumps({"type": "message", "message": "hello"}))
        while (frame := json.loads(await asyncio.wait_for(socket.recv(), 60)))["type"] == "delta":
            pass
        return frame

    async def scenario() -> tuple[dict, dict]:
        url = live_api.replace("http://", "ws://") + f"/api/v1/chat/ws?key={shop.created.widget_key}"
        async with websockets.connect(url) as socket:
            before = await ask(socket)
            await asyncio.to_thread(revoke_widget_key, shop.id, widget_key_id(shop))
            return before, await ask(socket)

    before, after = asyncio.run(scenario())
    assert before["type"] == "final"
    assert after["type"] == "error" and after["status"] == 401 and "revoked" in after["detail"]
