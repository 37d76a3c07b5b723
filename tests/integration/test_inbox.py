"""The agent inbox through the API: hand-offs wait, an agent takes one, the bot falls silent,
replies reach the customer's history, resolving or handing back gives the conversation to the bot."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import select

from chat import events
from core.db import tenant_session_sync
from core.models import Conversation, Message
from core.tenancy import add_user
from knowledge import phrasing_suggestions
from tests.factories import TenantCtx, qa_csv

pytestmark = pytest.mark.integration
FAQ = [
    ("R-1", "What is the refund policy?", "Refunds are accepted within 14 days of delivery."),
    ("R-2", "How long does delivery take?", "Delivery takes 3 to 5 working days."),
]


@pytest.fixture(autouse=True)
async def own_relay():
    """The process-wide relay runs on the loop that first used it: close it after each test here, so
    a later API server in this process (tests/browser) starts its own on its own loop."""
    yield
    await events.relay.close()


@pytest.fixture
async def shop(client, tenant: TenantCtx, stub_worker) -> TenantCtx:
    upload = await client.post(
        "/api/v1/documents", headers=tenant.admin, files={"file": ("faq.csv", qa_csv(FAQ), "text/csv")}
    )
    assert upload.status_code == 202
    stub_worker()
    return tenant


async def agent(client, tenant: TenantCtx, name: str) -> dict[str, str]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    with tenant_session_sync(tenant.id) as session:
        add_user(session, tenant.id, email, "password-123", "agent", display_name=name)
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": "password-123"})
    return {"Authorization": f"Bearer {login.json()['token']}"}


def widget(tenant: TenantCtx) -> dict[str, str]:
    return {"X-Widget-Key": tenant.created.widget_key}


async def handed_off(client, tenant: TenantCtx, visitor: str = "v-inbox") -> str:
    """A conversation whose customer asked a question, then pressed "talk to a human"."""
    first = await client.post(
        "/api/v1/chat", headers=widget(tenant), json={"message": "What is the refund policy?", "visitor_id": visitor}
    )
    conversation_id = first.json()["conversation_id"]
    asked = await client.post(
        f"/api/v1/chat/conversations/{conversation_id}/handoff",
        headers=widget(tenant),
        json={"visitor_id": visitor, "reason": "wants a person"},
    )
    assert asked.status_code == 200 and asked.json()["inbox"]["status"] == "waiting", asked.text
    return conversation_id


async def test_a_handoff_waits_oldest_first_with_reason_and_place(client, shop) -> None:
    first = await handed_off(client, shop, "v-1")
    second = await handed_off(client, shop, "v-2")
    lin = await agent(client, shop, "Lin")
    listing = await client.get("/api/v1/inbox?status=waiting", headers=lin)
    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert [i["conversation_id"] for i in items] == [first, second] and listing.json()["total"] == 2
    assert items[0]["reason"] == "wants a person" and items[0]["assignee_id"] is None
    assert items[0]["waiting_seconds"] >= 0 and items[0]["last_message_at"]
    assert "14 days" in items[0]["last_bot_answer"]
    history = await client.get(f"/api/v1/chat/conversations/{second}/messages?visitor_id=v-2", headers=widget(shop))
    assert history.json()["inbox"] == {"status": "waiting", "position": 2, "agent_name": None}


async def test_two_agents_assigning_at_once_one_wins_the_other_is_told(client, shop) -> None:
    conversation_id = await handed_off(client, shop)
    lin, mei = await agent(client, shop, "Lin"), await agent(client, shop, "Mei")
    results = await asyncio.gather(
        client.post(f"/api/v1/inbox/{conversation_id}/assign", headers=lin),
        client.post(f"/api/v1/inbox/{conversation_id}/assign", headers=mei),
    )
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200).json()["agent_name"]
    loser = next(r for r in results if r.status_code == 409).json()["detail"]
    assert f"{winner} has already taken this conversation" in loser
    with tenant_session_sync(shop.id) as session:
        assert session.get(Conversation, uuid.UUID(conversation_id)).inbox_status == "open"


async def test_while_an_agent_holds_it_the_bot_is_silent_and_replies_reach_the_history(client, shop) -> None:
    conversation_id = await handed_off(client, shop)
    lin = await agent(client, shop, "Lin")
    assert (await client.post(f"/api/v1/inbox/{conversation_id}/assign", headers=lin)).status_code == 200
    asked = await client.post(
        "/api/v1/chat",
        headers=widget(shop),
        json={"message": "How long does delivery take?", "conversation_id": conversation_id, "visitor_id": "v-inbox"},
    )
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["status"] == "with_agent" and body["conversation_id"] == conversation_id
    assert body["inbox"]["agent_name"] == "Lin"
    sent = await client.post(
        f"/api/v1/inbox/{conversation_id}/messages",
        headers=lin,
        json={"text": "Hello, I am Lin. Your parcel ships today."},
    )
    assert sent.status_code == 201, sent.text
    history = (
        await client.get(
            f"/api/v1/chat/conversations/{conversation_id}/messages?visitor_id=v-inbox", headers=widget(shop)
        )
    ).json()
    roles = [(m["role"], m.get("agent_name")) for m in history["messages"]]
    assert roles[-2:] == [("customer", None), ("agent", "Lin")]
    assert history["messages"][-1]["id"] == sent.json()["message_id"]
    assert history["inbox"] == {"status": "open", "position": None, "agent_name": "Lin"}
    with tenant_session_sync(shop.id) as session:  # no bot answer to the held question
        held = session.scalars(select(Message).where(Message.id == uuid.UUID(body["message_id"]))).one()
        assert held.status == "human"
        assert session.scalar(select(Message.id).where(Message.reply_to == held.id)) is None


async def test_resolving_gives_the_conversation_back_to_the_bot(client, shop) -> None:
    conversation_id = await handed_off(client, shop)
    lin = await agent(client, shop, "Lin")
    await client.post(f"/api/v1/inbox/{conversation_id}/assign", headers=lin)
    resolved = await client.post(f"/api/v1/inbox/{conversation_id}/resolve", headers=lin)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    again = await client.post(
        "/api/v1/chat",
        headers=widget(shop),
        json={"message": "How long does delivery take?", "conversation_id": conversation_id, "visitor_id": "v-inbox"},
    )
    assert again.status_code == 200 and "working days" in again.json()["answer"]
    listed = (await client.get("/api/v1/inbox?status=resolved", headers=lin)).json()
    assert [i["conversation_id"] for i in listed["items"]] == [conversation_id]
    late = await client.post(f"/api/v1/inbox/{conversation_id}/messages", headers=lin, json={"text": "one more"})
    assert late.status_code == 409 and "resolved" in late.json()["detail"]


async def test_handing_back_unresolved_lets_the_bot_answer_again(client, shop) -> None:
    conversation_id = await handed_off(client, shop)
    lin = await agent(client, shop, "Lin")
    await client.post(f"/api/v1/inbox/{conversation_id}/assign", headers=lin)
    released = await client.post(f"/api/v1/inbox/{conversation_id}/release", headers=lin)
    assert released.status_code == 200 and released.json()["status"] is None
    again = await client.post(
        "/api/v1/chat",
        headers=widget(shop),
        json={"message": "What is the refund policy?", "conversation_id": conversation_id, "visitor_id": "v-inbox"},
    )
    assert again.status_code == 200 and "14 days" in again.json()["answer"]
    twice = await client.post(f"/api/v1/inbox/{conversation_id}/release", headers=lin)
    assert twice.status_code == 409 and "bot is handling" in twice.json()["detail"]


async def test_the_bots_own_handoff_puts_the_conversation_in_the_inbox(client, shop) -> None:
    asked = await client.post("/api/v1/chat", headers=widget(shop), json={"message": "转人工", "visitor_id": "v-zh"})
    assert asked.status_code == 200 and asked.json()["handoff"] is True, asked.text
    lin = await agent(client, shop, "Lin")
    waiting = (await client.get("/api/v1/inbox?status=waiting", headers=lin)).json()["items"]
    assert [i["conversation_id"] for i in waiting] == [asked.json()["conversation_id"]]
    follow = await client.post(
        "/api/v1/chat",
        headers=widget(shop),
        json={"message": "你好？", "conversation_id": asked.json()["conversation_id"], "visitor_id": "v-zh"},
    )
    assert follow.status_code == 202 and follow.json()["inbox"] == {
        "status": "waiting",
        "position": 1,
        "agent_name": None,
    }


@pytest.mark.parametrize(
    ("text", "says"), [("", "must not be empty"), ("   ", "must not be empty"), ("x" * 4001, "too long")]
)
async def test_empty_or_oversize_replies_are_422_and_store_nothing(client, shop, text, says) -> None:
    conversation_id = await handed_off(client, shop)
    lin = await agent(client, shop, "Lin")
    response = await client.post(f"/api/v1/inbox/{conversation_id}/messages", headers=lin, json={"text": text})
    assert response.status_code == 422 and says in response.json()["detail"]
    with tenant_session_sync(shop.id) as session:
        assert session.scalar(select(Message.id).where(Message.role == "agent")) is None
        assert session.get(Conversation, uuid.UUID(conversation_id)).inbox_status == "waiting"


async def test_unknown_conversations_are_404_and_bot_conversations_409(client, shop) -> None:
    lin = await agent(client, shop, "Lin")
    for action in ("assign", "resolve", "release"):
        response = await client.post(f"/api/v1/inbox/{uuid.uuid4()}/{action}", headers=lin)
        assert response.status_code == 404, (action, response.text)
    missing = await client.post(f"/api/v1/inbox/{uuid.uuid4()}/messages", headers=lin, json={"text": "hi"})
    assert missing.status_code == 404
    bot = await client.post("/api/v1/chat", headers=widget(shop), json={"message": "What is the refund policy?"})
    reply = await client.post(
        f"/api/v1/inbox/{bot.json()['conversation_id']}/messages", headers=lin, json={"text": "hi"}
    )
    assert reply.status_code == 409 and "assign it to yourself" in reply.json()["detail"]
    bad_status = await client.get("/api/v1/inbox?status=everything", headers=lin)
    assert bad_status.status_code == 422 and "waiting, open, resolved" in bad_status.json()["detail"]


async def test_a_reply_resent_after_a_dropped_connection_is_stored_and_pushed_once(client, shop) -> None:
    conversation_id = await handed_off(client, shop)
    lin = await agent(client, shop, "Lin")
    queue = await events.relay.subscribe(conversation_id)
    try:
        sends = [
            client.post(
                f"/api/v1/inbox/{conversation_id}/messages",
                headers=lin,
                json={"text": "We are on it.", "client_ref": "reply-1"},
            )
            for _ in range(3)
        ]
        results = await asyncio.gather(*sends)
        assert sorted(r.status_code for r in results) == [200, 200, 201]
        assert len({r.json()["message_id"] for r in results}) == 1
        frames = []
        while True:
            try:
                frames.append(await asyncio.wait_for(queue.get(), 1.0))
            except TimeoutError:
                break
    finally:
        await events.relay.unsubscribe(conversation_id, queue)
    assert [f["type"] for f in frames].count("agent_message") == 1
    assert {"type": "agent_joined", "agent_name": "Lin"} in frames  # replying to a waiting conversation takes it
    with tenant_session_sync(shop.id) as session:
        assert len(session.scalars(select(Message.id).where(Message.role == "agent")).all()) == 1


async def test_customer_messages_are_pushed_to_the_inbox_channel(client, shop) -> None:
    conversation_id = await handed_off(client, shop)
    queue = await events.relay.subscribe_channel(events.inbox_channel(shop.id))
    try:
        await client.post(
            "/api/v1/chat",
            headers=widget(shop),
            json={"message": "Anyone there?", "conversation_id": conversation_id, "visitor_id": "v-inbox"},
        )
        event = await asyncio.wait_for(queue.get(), 2.0)
    finally:
        await events.relay.unsubscribe_channel(events.inbox_channel(shop.id), queue)
    assert event["type"] == "customer_message" and event["text"] == "Anyone there?"
    assert event["conversation_id"] == conversation_id


async def test_the_transcript_shows_sources_confidence_and_assist_entries(client, shop) -> None:
    conversation_id = await handed_off(client, shop)
    await client.post(
        "/api/v1/chat",
        headers=widget(shop),
        json={"message": "how long is delivery", "conversation_id": conversation_id, "visitor_id": "v-inbox"},
    )
    lin = await agent(client, shop, "Lin")
    detail = await client.get(f"/api/v1/inbox/{conversation_id}", headers=lin)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    answer = next(m for m in body["messages"] if m["role"] == "assistant")
    assert answer["confidence"] > 0 and answer["sources"][0]["title"] == "What is the refund policy?"
    assert body["assist"]["question"] == "how long is delivery"
    assert body["assist"]["entries"][0]["answer"] == "Delivery takes 3 to 5 working days."
    assert body["reason"] == "wants a person" and body["status"] == "waiting"


async def test_a_reply_written_from_an_assist_entry_suggests_the_customers_wording_for_it(client, shop) -> None:
    conversation_id = await handed_off(client, shop)
    asked = "my parcel still hasnt come, when will it get here"
    await client.post("/api/v1/chat", headers=widget(shop),
                      json={"message": asked, "conversation_id": conversation_id, "visitor_id": "v-inbox"})
    lin = await agent(client, shop, "Lin")
    unknown = await client.post(f"/api/v1/inbox/{conversation_id}/messages", headers=lin,
                                json={"text": "Soon!", "used_entry": {"source_ref": "NOPE-9"}})
    assert unknown.status_code == 422 and "used_entry" in unknown.json()["detail"]
    with tenant_session_sync(shop.id) as session:
        assert session.scalars(select(Message.id).where(Message.text == "Soon!")).all() == []
    sent = await client.post(f"/api/v1/inbox/{conversation_id}/messages", headers=lin,
                             json={"text": "Delivery takes 3 to 5 working days.", "used_entry": {"source_ref": "R-2"}})
    assert sent.status_code == 201, sent.text
    with tenant_session_sync(shop.id) as session:
        stored = session.get(Message, uuid.UUID(sent.json()["message_id"]))
    assert stored.meta == {"agent_used_entry": {"source_ref": "R-2", "question": "How long does delivery take?"}}
    found = [(s.phrasing, s.source_ref, s.origin) for s in phrasing_suggestions.list_suggestions(shop.id)]
    assert (asked, "R-2", "agent") in found
    plain = await client.post(f"/api/v1/inbox/{conversation_id}/messages", headers=lin, json={"text": "Anything else?"})
    assert plain.status_code == 201  # a reply not written from an entry records none


async def test_canned_responses_per_tenant(client, shop, other_tenant) -> None:
    lin = await agent(client, shop, "Lin")
    added = await client.post(
        "/api/v1/canned-responses", headers=shop.admin, json={"shortcut": "/退货", "text": "退货请在14天内申请。"}
    )
    assert added.status_code == 201 and added.json()["shortcut"] == "退货", added.text
    dup = await client.post("/api/v1/canned-responses", headers=shop.admin, json={"shortcut": "退货", "text": "x"})
    bad = await client.post("/api/v1/canned-responses", headers=shop.admin, json={"shortcut": "a b", "text": "x"})
    by_agent = await client.post("/api/v1/canned-responses", headers=lin, json={"shortcut": "hi", "text": "x"})
    assert (dup.status_code, bad.status_code, by_agent.status_code) == (409, 422, 403)
    listed = (await client.get("/api/v1/canned-responses", headers=lin)).json()["items"]
    assert [(c["shortcut"], c["text"]) for c in listed] == [("退货", "退货请在14天内申请。")]
    assert (await client.get("/api/v1/canned-responses", headers=other_tenant.admin)).json()["items"] == []
    gone = await client.delete(f"/api/v1/canned-responses/{added.json()['id']}", headers=other_tenant.admin)
    assert gone.status_code == 404
    assert (
        await client.delete(f"/api/v1/canned-responses/{added.json()['id']}", headers=shop.admin)
    ).status_code == 204


async def test_customer_messages_and_resolving_reach_the_tenants_webhook(client, shop, stub_worker) -> None:
    from tests.support.receivers import webhook_receiver

    with webhook_receiver() as receiver:
        hook = await client.post(
            "/api/v1/webhooks",
            headers=shop.admin,
            json={"url": receiver.url, "events": ["message.created", "conversation.resolved"]},
        )
        assert hook.status_code == 201, hook.text
        conversation_id = await handed_off(client, shop)
        lin = await agent(client, shop, "Lin")
        await client.post(f"/api/v1/inbox/{conversation_id}/assign", headers=lin)
        await client.post(
            "/api/v1/chat",
            headers=widget(shop),
            json={"message": "Is anyone there?", "conversation_id": conversation_id, "visitor_id": "v-inbox"},
        )
        await client.post(f"/api/v1/inbox/{conversation_id}/resolve", headers=lin)
        stub_worker()
    posted = [json.loads(r.body) for r in receiver.requests]
    assert [p["event"] for p in posted] == ["message.created", "conversation.resolved"]
    assert posted[0]["data"]["text"] == "Is anyone there?" and posted[0]["data"]["conversation_id"] == conversation_id
    assert posted[1]["data"]["conversation_id"] == conversation_id and posted[1]["data"]["resolved_by"] == "Lin"
