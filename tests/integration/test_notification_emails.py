"""Hand-off emails to staff and agent replies to away customers, through a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import uuid
from email.header import decode_header, make_header

import pytest
from sqlalchemy import insert, select

from chat import notifications
from chat.events import channel
from core.db import tenant_session_sync
from core.models import Conversation, Message, NotificationEmail
from core.redis import async_redis
from core.settings import get_settings
from core.tenancy import add_user
from tests.support.receivers import free_port, smtp_server

pytestmark = pytest.mark.integration


@pytest.fixture
def smtp_url(monkeypatch):
    """Point KEFU_SMTP_URL at a port; the test starts a server there, or leaves it closed (SMTP down)."""
    port = free_port()
    monkeypatch.setenv("KEFU_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("KEFU_SMTP_FROM", "Kefu <notify@kefu.test>")
    get_settings.cache_clear()
    yield port
    monkeypatch.undo()
    get_settings.cache_clear()


def subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def widget(tenant) -> dict[str, str]:
    return {"X-Widget-Key": tenant.created.widget_key}


async def hand_off(client, tenant, visitor: str = "v-mail") -> str:
    chat = await client.post(
        "/api/v1/chat", headers=widget(tenant), json={"message": "我的订单还没到", "visitor_id": visitor}
    )
    conversation_id = chat.json()["conversation_id"]
    response = await client.post(
        f"/api/v1/chat/conversations/{conversation_id}/handoff", headers=widget(tenant), json={"visitor_id": visitor}
    )
    assert response.status_code == 200, response.text
    return conversation_id


def emails(tenant) -> list[NotificationEmail]:
    with tenant_session_sync(tenant.id) as session:
        rows = session.scalars(select(NotificationEmail).order_by(NotificationEmail.recipient)).all()
        session.expunge_all()
        return list(rows)


async def test_a_hand_off_emails_owners_and_admins_but_not_analysts(client, tenant, stub_worker, smtp_url) -> None:
    with tenant_session_sync(tenant.id) as session:
        add_user(session, tenant.id, f"admin-{uuid.uuid4().hex[:6]}@example.com", "password-123", "admin")
    with smtp_server(smtp_url) as box:
        conversation_id = await hand_off(client, tenant)
        stub_worker()
    recipients = sorted(m["To"] for m in box.messages)
    assert len(recipients) == 2 and all(r.startswith(("owner-", "admin-")) for r in recipients)
    message = box.messages[0]
    assert message["From"] == "Kefu <notify@kefu.test>" and subject(message) == (
        "A customer is waiting for a person · 有客户在等待人工客服"
    )
    text = message.get_payload(decode=True).decode()
    assert conversation_id in text and "我的订单还没到" in text and "有客户请求人工客服" in text
    assert {e.status for e in emails(tenant)} == {"sent"}


async def test_smtp_down_is_retried_logged_and_marked_failed(client, tenant, stub_worker, smtp_url, caplog) -> None:
    caplog.set_level(logging.WARNING)
    response_started = await hand_off(client, tenant)  # nothing listens on the SMTP port
    assert response_started
    stub_worker(retries_exhausted=True)
    [email] = emails(tenant)
    assert email.status == "failed" and email.attempts == get_settings().notify_max_retries + 1
    assert "ConnectionRefusedError" in email.last_error
    assert any("notification email not sent; will retry" in r.getMessage() for r in caplog.records)
    assert any("notification email failed for good" in r.getMessage() for r in caplog.records)


async def test_smtp_back_after_a_failure_delivers_the_email_once(
    client, tenant, stub_worker, smtp_url, monkeypatch
) -> None:
    from chat import mail

    real_send, calls = mail.send, []

    def flaky(*args: str) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionRefusedError("SMTP not up yet")
        real_send(*args)

    monkeypatch.setattr(mail, "send", flaky)
    with smtp_server(smtp_url) as box:
        await hand_off(client, tenant)
        stub_worker()
    assert len(calls) == 2 and len(box.messages) == 1
    assert [(e.status, e.attempts) for e in emails(tenant)] == [("sent", 2)]


async def test_tenants_can_turn_hand_off_emails_off(client, tenant, stub_worker, smtp_url) -> None:
    off = await client.put("/api/v1/settings/service", headers=tenant.admin, json={"handoff_emails": False})
    assert off.status_code == 200 and off.json()["handoff_emails"] is False
    with smtp_server(smtp_url) as box:
        await hand_off(client, tenant)
        stub_worker()
    assert box.messages == [] and emails(tenant) == []


def _agent_reply(tenant, conversation_id: str, text: str) -> uuid.UUID:
    """An agent's message as the inbox stores it (role agent); the inbox itself is another piece of work."""
    message_id = uuid.uuid4()
    with tenant_session_sync(tenant.id) as session:
        session.execute(
            insert(Message).values(
                id=message_id, tenant_id=tenant.id, conversation_id=uuid.UUID(conversation_id), role="agent", text=text
            )
        )
    return message_id


async def _leave_address(client, tenant, conversation_id: str, visitor: str = "v-mail") -> None:
    response = await client.post(
        f"/api/v1/chat/conversations/{conversation_id}/contact",
        headers=widget(tenant),
        json={"visitor_id": visitor, "email": "ada@example.org"},
    )
    assert response.status_code == 200, response.text


async def test_an_agent_reply_is_emailed_once_to_an_away_customer(client, tenant, stub_worker, smtp_url) -> None:
    conversation_id = await hand_off(client, tenant)
    await _leave_address(client, tenant, conversation_id)
    reply = _agent_reply(tenant, conversation_id, "您的包裹明天送达。")
    with smtp_server(smtp_url) as box:
        stub_worker()  # the hand-off emails to staff
        box.messages.clear()
        assert await notifications.email_agent_reply(tenant.id, reply, "小王") is True
        assert await notifications.email_agent_reply(tenant.id, reply, "小王") is False  # once per message
        stub_worker()
    [message] = box.messages
    assert message["To"] == "ada@example.org" and subject(message) == "您的咨询有了回复"
    assert "小王回复了您的咨询" in message.get_payload(decode=True).decode()


async def test_a_connected_customer_gets_no_email(client, tenant, stub_worker, smtp_url) -> None:
    with smtp_server(smtp_url):
        conversation_id = await hand_off(client, tenant)
        stub_worker()  # the staff emails of the hand-off
    await _leave_address(client, tenant, conversation_id)
    reply = _agent_reply(tenant, conversation_id, "Your parcel arrives tomorrow.")
    pubsub = async_redis().pubsub()
    await pubsub.subscribe(channel(conversation_id))  # what a widget socket's relay does
    try:
        assert await notifications.customer_connected(uuid.UUID(conversation_id)) is True
        assert await notifications.email_agent_reply(tenant.id, reply, "Wang") is False
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
    assert await notifications.customer_connected(uuid.UUID(conversation_id)) is False
    assert [e.kind for e in emails(tenant)] == ["handoff"]


async def test_no_address_or_a_bot_message_sends_nothing(client, tenant, stub_worker, smtp_url) -> None:
    with smtp_server(smtp_url):
        conversation_id = await hand_off(client, tenant, "v-none")
        stub_worker()  # the staff emails of the hand-off
    reply = _agent_reply(tenant, conversation_id, "Hello")
    assert await notifications.email_agent_reply(tenant.id, reply) is False
    with tenant_session_sync(tenant.id) as session:
        bot = session.scalar(select(Message.id).where(Message.role == "assistant"))
        session.execute(Conversation.__table__.update().values(contact_email="ada@example.org"))
    assert await notifications.email_agent_reply(tenant.id, bot) is False
