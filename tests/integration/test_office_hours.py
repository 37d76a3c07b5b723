"""Office hours through the API and the widget's routes: closed means saying so and asking for a contact."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.db import tenant_session_sync
from core.models import Conversation

pytestmark = pytest.mark.integration
CLOSED = {
    "office_hours_enabled": True,
    "timezone": "Asia/Shanghai",
    "hours": {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
}
OPEN = {**CLOSED, "hours": {d: ["00:00-24:00"] for d in CLOSED["hours"]}}


def widget(tenant) -> dict[str, str]:
    return {"X-Widget-Key": tenant.created.widget_key}


async def conversation(client, tenant, visitor: str) -> str:
    chat = await client.post("/api/v1/chat", headers=widget(tenant), json={"message": "hello", "visitor_id": visitor})
    return chat.json()["conversation_id"]


async def test_admins_set_office_hours_and_analysts_read_them(client, tenant) -> None:
    response = await client.put("/api/v1/settings/service", headers=tenant.admin, json=CLOSED)
    assert response.status_code == 200, response.text
    assert response.json()["open_now"] is False and response.json()["timezone"] == "Asia/Shanghai"
    read = await client.get("/api/v1/settings/service", headers=tenant.analyst)
    assert read.json()["hours"]["mon"] == [] and read.json()["office_hours_enabled"] is True


async def test_bad_office_hours_are_refused_and_nothing_changes(client, tenant) -> None:
    await client.put("/api/v1/settings/service", headers=tenant.admin, json=OPEN)
    response = await client.put(
        "/api/v1/settings/service", headers=tenant.admin, json={"timezone": "Europe/Nowhere", "hours": {"mon": []}}
    )
    assert response.status_code == 422 and "IANA time zone" in response.json()["detail"]
    after = (await client.get("/api/v1/settings/service", headers=tenant.admin)).json()
    assert after["timezone"] == "Asia/Shanghai" and after["hours"]["mon"] == ["00:00-24:00"]


async def test_outside_office_hours_the_widget_is_told_to_ask_for_a_contact(client, tenant) -> None:
    await client.put("/api/v1/settings/service", headers=tenant.admin, json=CLOSED)
    config = (await client.get("/api/v1/widget/config", headers=widget(tenant))).json()
    assert config["service"] == {"open": False, "agent_online": False, "ask_contact": True, "reason": "closed"}
    conversation_id = await conversation(client, tenant, "v-closed")
    handed = await client.post(
        f"/api/v1/chat/conversations/{conversation_id}/handoff", headers=widget(tenant), json={"visitor_id": "v-closed"}
    )
    assert handed.json() == {"status": "handed_off", "open": False, "agent_online": False, "ask_contact": True,
                             "reason": "closed",
                             "inbox": {"status": "waiting", "position": 1, "agent_name": None}}  # it waits in the inbox
    await client.put("/api/v1/settings/service", headers=tenant.admin, json=OPEN)
    assert (await client.get("/api/v1/widget/config", headers=widget(tenant))).json()["service"]["open"] is True


async def test_a_customer_leaves_an_email_and_phone_on_their_conversation(client, tenant) -> None:
    conversation_id = await conversation(client, tenant, "v-contact")
    response = await client.post(
        f"/api/v1/chat/conversations/{conversation_id}/contact",
        headers=widget(tenant),
        json={"visitor_id": "v-contact", "email": " ada@example.org ", "phone": "+86 138 0013 8000"},
    )
    assert response.status_code == 200, response.text
    with tenant_session_sync(tenant.id) as session:
        row = session.get(Conversation, uuid.UUID(conversation_id))
        assert (row.contact_email, row.contact_phone) == ("ada@example.org", "+86 138 0013 8000")
        assert row.contact_at is not None


async def test_a_bad_contact_is_refused_and_stores_nothing(client, tenant) -> None:
    conversation_id = await conversation(client, tenant, "v-bad")
    for body, message in (
        ({"email": "not-an-address"}, "name@example.com"),
        ({}, "Leave an email address or a phone number"),
        ({"phone": "12"}, "phone must be a phone number"),
    ):
        response = await client.post(
            f"/api/v1/chat/conversations/{conversation_id}/contact",
            headers=widget(tenant),
            json={"visitor_id": "v-bad", **body},
        )
        assert response.status_code == 422 and message in response.json()["detail"], response.text
    with tenant_session_sync(tenant.id) as session:
        assert (
            session.scalar(select(Conversation.contact_email).where(Conversation.id == uuid.UUID(conversation_id)))
            is None
        )


async def test_another_visitors_conversation_is_not_found(client, tenant) -> None:
    conversation_id = await conversation(client, tenant, "v-owner")
    response = await client.post(
        f"/api/v1/chat/conversations/{conversation_id}/contact",
        headers=widget(tenant),
        json={"visitor_id": "v-stranger", "email": "eve@example.org"},
    )
    assert response.status_code == 404


async def test_leaving_contacts_is_rate_limited(client, tenant) -> None:
    conversation_id = await conversation(client, tenant, "v-flood")
    statuses = []
    for n in range(7):
        response = await client.post(
            f"/api/v1/chat/conversations/{conversation_id}/contact",
            headers=widget(tenant),
            json={"visitor_id": "v-flood", "email": f"a{n}@example.org"},
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    assert int(response.headers["retry-after"]) > 0
