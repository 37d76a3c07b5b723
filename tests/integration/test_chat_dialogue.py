"""How the built-in bot understands a turn (issue 18): small talk, requests for a person, follow-ups,
"did you mean" suggestions and a chosen suggestion, through the widget API with the real embedder."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from chat import engine, presence
from chat.prompts import phrase
from core.db import tenant_session_sync
from core.models import Conversation, Handoff, Message
from tests.factories import TenantCtx
from tests.integration.test_chat import DEMO, ask, widget

pytestmark = pytest.mark.integration


@pytest.fixture
async def shop(client, tenant: TenantCtx, stub_worker, real_embedder) -> TenantCtx:
    """The demo tea shop's FAQ in both languages (12 entries each)."""
    for file in sorted(DEMO.glob("shop_faq_*.csv")):
        response = await client.post("/api/v1/documents", headers=tenant.admin,
                                     files={"file": (file.name, file.read_bytes())})
        assert response.status_code == 202
    stub_worker()
    return tenant


async def converse(client, tenant, *messages: str, visitor: str) -> list[dict]:
    replies: list[dict] = []
    for message in messages:
        extra = {"conversation_id": replies[0]["conversation_id"]} if replies else {}
        replies.append(await ask(client, tenant, message, visitor_id=visitor, **extra))
    return replies


def polite(body: dict) -> bool:
    """A small-talk reply: text, no sources, no suggestions, no hand-off, not a don't-know."""
    return (bool(body["answer"]) and body["citations"] == [] and body["suggestions"] == []
            and body["handoff"] is False and body["suggest_handoff"] is False)


async def test_greetings_get_a_polite_reply_with_no_sources(client, shop) -> None:
    for greeting, language in (("hello there 👋", "en"), ("在不在呀", "zh"), ("good evening!", "en")):
        body = await ask(client, shop, greeting)
        assert polite(body), (greeting, body)
        assert body["answer"] == phrase(language, "greeting")


async def test_thanks_after_an_answer_does_not_repeat_the_answer(client, shop) -> None:
    answer, thanks, ack, bye = await converse(client, shop, "下单后多久能收到货？", "好的 谢谢你啦", "嗯嗯 知道了", "拜拜",
                                              visitor="v-thanks")
    assert answer["citations"][0]["source_ref"] == "ZH-001"
    assert polite(thanks) and thanks["answer"] == phrase("zh", "thanks")
    assert polite(ack) and polite(bye) and bye["answer"] == phrase("zh", "bye")
    english = await converse(client, shop, "How long does delivery take?", "ok ta", "cheers, bye", visitor="v-ta")
    assert all(polite(body) for body in english[1:]), english
    with tenant_session_sync(shop.id) as session:
        reasons = session.scalars(select(Message.fallback_reason).where(
            Message.conversation_id == uuid.UUID(thanks["conversation_id"]), Message.role == "assistant")
            .order_by(Message.created_at)).all()
    assert reasons == [None, "small_talk", "small_talk", "small_talk"]


async def test_a_greeting_with_a_question_is_answered(client, shop) -> None:
    body = await ask(client, shop, "hi there, how long does delivery take to Hong Kong?")
    assert body["citations"][0]["source_ref"] == "EN-001"


@pytest.mark.parametrize("request_text", [
    "转人工",
    "你们机器人说不明白 让个真人来跟我说",
    "I'd like to speak with one of your staff please",
    "could somebody from your team phone me back about this",
])
async def test_requests_for_a_person_hand_the_conversation_over(client, shop, request_text) -> None:
    first = await ask(client, shop, "Can I cancel my order?", visitor_id="v-human")
    body = await ask(client, shop, request_text, visitor_id="v-human", conversation_id=first["conversation_id"])
    assert body["handoff"] is True and body["citations"] == [] and body["suggestions"] == []
    with tenant_session_sync(shop.id) as session:
        conversation = session.get(Conversation, uuid.UUID(body["conversation_id"]))
        assert conversation.handoff is True
        assert session.scalars(select(Handoff.source).where(Handoff.conversation_id == conversation.id)).all() == ["bot"]


async def test_an_unsure_request_for_a_person_the_knowledge_cannot_answer_is_handed_over(client, shop) -> None:
    from chat import dialogue

    request_text = "找个师傅给我讲讲"

    reading = dialogue.read_sync(request_text)
    assert reading.kind == dialogue.HUMAN and reading.maybe, reading  # the unsure band, left to the knowledge
    greeting, body = await converse(client, shop, "hello", request_text, visitor="v-unsure")
    assert greeting["citations"] == [] and body["handoff"] is True, body
    assert body["citations"] == [] and body["suggestions"] == []


async def test_an_unsure_request_the_conversation_answers_stays_a_follow_up(client, shop) -> None:
    from chat import dialogue

    assert dialogue.read_sync("tell me when it's sent").maybe  # sounds a little like "call me"
    _, follow = await converse(client, shop, "How long does delivery take?", "tell me when it's sent",
                                   visitor="v-unsure-q")
    assert follow["handoff"] is False, follow


async def test_questions_that_mention_people_stay_questions(client, shop) -> None:
    body = await ask(client, shop, "What are the opening hours of your online customer service?")
    assert body["handoff"] is False and body["citations"][0]["source_ref"] == "EN-012"


async def test_an_elliptical_topic_switch_finds_the_new_entry(client, shop) -> None:
    delivery, shipping = await converse(client, shop, "下单后多久能收到货？", "那运费呢？", visitor="v-switch")
    assert delivery["citations"][0]["source_ref"] == "ZH-001"
    assert shipping["citations"][0]["source_ref"] == "ZH-002", shipping
    english = await converse(client, shop, "how much is shipping to hong kong", "and how long does it take?",
                             visitor="v-switch-en")
    assert english[0]["citations"][0]["source_ref"] == "EN-002"
    assert english[1]["citations"][0]["source_ref"] == "EN-001", english[1]


async def test_a_same_topic_follow_up_keeps_the_topic(client, shop) -> None:
    first, follow = await converse(client, shop, "Can I return tea I bought?", "what if I already opened it?",
                                   visitor="v-same")
    assert first["citations"][0]["source_ref"] == "EN-004"
    assert follow["citations"][0]["source_ref"] == "EN-004", follow


async def test_every_reply_carries_a_suggestions_list(client, shop) -> None:
    answered = await ask(client, shop, "How long does delivery take?")
    unknown = await ask(client, shop, "What is the population of Mars colonies in 2090?")
    assert answered["suggestions"] == [] and unknown["suggestions"] == []
    assert unknown["suggest_handoff"] is True and unknown["citations"] == []


@pytest.fixture
async def listing(client, shop) -> TenantCtx:
    """The shop with `answer_clear_lead` off: every question below the threshold gets "did you mean"."""
    saved = await client.put("/api/v1/settings/bot", headers=shop.admin, json={"answer_clear_lead": False})
    assert saved.status_code == 200 and saved.json()["answer_clear_lead"] is False, saved.text
    return shop


async def test_a_top_entry_that_clearly_leads_is_answered_below_the_threshold(client, shop) -> None:
    body = await ask(client, shop, "company tax id")
    assert 0.2 <= body["confidence"] < 0.5  # below the threshold, but the invoice row stands out
    assert body["citations"][0]["source_ref"] == "EN-007" and body["suggestions"] == []
    bad = await client.put("/api/v1/settings/bot", headers=shop.admin, json={"answer_clear_lead": "yes"})
    assert bad.status_code == 422 and "answer_clear_lead" in bad.json()["detail"]


async def test_an_unsure_question_offers_suggestions_without_sources(client, listing) -> None:
    shop = listing
    body = await ask(client, shop, "company tax id")
    assert 0.2 <= body["confidence"] < 0.5
    assert body["citations"] == [] and body["handoff"] is False and body["suggest_handoff"] is False
    assert body["answer"] == phrase("en", "did_you_mean")
    first = body["suggestions"][0]
    assert first["source_ref"] == "EN-007" and first["question"] == "Can I get an invoice (fapiao)?"
    assert 1 <= len(body["suggestions"]) <= 3
    assert len({s["source_ref"] for s in body["suggestions"]}) == len(body["suggestions"])
    assert {"source_ref", "document_id", "chunk_id", "question"} == set(first)


async def test_a_chosen_suggestion_is_answered_from_its_entry_and_recorded(client, listing) -> None:
    shop = listing
    offered = await ask(client, shop, "company tax id", visitor_id="v-choose")
    chosen = offered["suggestions"][0]
    body = await ask(client, shop, chosen["question"], visitor_id="v-choose",
                     conversation_id=offered["conversation_id"], suggestion={"source_ref": chosen["source_ref"]})
    assert body["citations"][0]["source_ref"] == "EN-007" and "Request invoice" in body["answer"]
    assert body["suggestions"] == []
    with tenant_session_sync(shop.id) as session:
        question = session.scalars(select(Message).where(
            Message.conversation_id == uuid.UUID(body["conversation_id"]), Message.role == "customer")
            .order_by(Message.created_at)).all()
    assert question[0].meta == {}
    assert question[1].meta == {"suggestion_chosen": {"source_ref": "EN-007",
                                                      "question": "Can I get an invoice (fapiao)?"}}
    # The conversation's topic is now the chosen entry: a follow-up continues it.
    follow = await ask(client, shop, "how long until I receive it by email?", visitor_id="v-choose",
                       conversation_id=body["conversation_id"])
    assert follow["citations"][0]["source_ref"] == "EN-007", follow


async def test_a_queued_chosen_suggestion_is_answered_from_its_entry(client, listing, stub_worker) -> None:
    shop = listing
    offered = await ask(client, shop, "company tax id", visitor_id="v-queue")
    chosen = offered["suggestions"][0]
    response = await client.post("/api/v1/chat?mode=queued", headers=widget(shop), json={
        "message": chosen["question"], "visitor_id": "v-queue", "conversation_id": offered["conversation_id"],
        "suggestion": {"source_ref": chosen["source_ref"]}})
    assert response.status_code == 202, response.text
    message_id = response.json()["message_id"]
    stub_worker()
    status = (await client.get(f"/api/v1/chat/messages/{message_id}", headers=widget(shop),
                               params={"visitor_id": "v-queue"})).json()
    assert status["status"] == "answered" and "Request invoice" in status["reply"]["text"], status
    with tenant_session_sync(shop.id) as session:
        stored = session.get(Message, uuid.UUID(message_id))
        reply = session.scalars(select(Message).where(Message.reply_to == stored.id)).one()
    assert stored.meta == {"suggestion_chosen": {"source_ref": "EN-007", "question": "Can I get an invoice (fapiao)?"}}
    assert [c["source_ref"] for c in reply.citations] == ["EN-007"]


@pytest.mark.parametrize("mode", ["", "?mode=queued"])
@pytest.mark.parametrize("suggestion", [{"source_ref": "NOPE-1"}, {"source_ref": ""}, {"source_ref": "x" * 600}])
async def test_a_bad_suggestion_is_refused_and_nothing_is_stored(client, shop, suggestion, mode) -> None:
    response = await client.post(f"/api/v1/chat{mode}", headers=widget(shop),
                                 json={"message": "that one", "visitor_id": "v-bad", "suggestion": suggestion})
    assert response.status_code == 422, response.text
    assert "source_ref" in response.json()["detail"]
    with tenant_session_sync(shop.id) as session:
        assert session.scalars(select(Message.id).where(Message.text == "that one")).all() == []


async def test_a_request_for_a_person_outside_office_hours_says_no_one_is_there(client, shop) -> None:
    closed = {"office_hours_enabled": True, "timezone": "Asia/Shanghai",
              "hours": {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    assert (await client.put("/api/v1/settings/service", headers=shop.admin, json=closed)).status_code == 200
    body = await ask(client, shop, "我要人工客服")
    assert body["handoff"] is True and body["answer"] == phrase("zh", "handoff_closed")


async def test_a_request_for_a_person_with_no_agent_online_says_so(client, shop) -> None:
    body = await ask(client, shop, "I want to talk to a human")  # no office hours set: open; nobody at the inbox
    assert body["handoff"] is True and body["answer"] == phrase("en", "handoff_no_agent")
    agent = presence.Seat(shop.id, uuid.uuid4(), "socket-1")
    await presence.arrive(agent)
    try:
        body = await ask(client, shop, "我要人工客服", visitor_id="v-online")
        assert body["handoff"] is True and body["answer"] == phrase("zh", "handoff")
    finally:
        await presence.leave(agent)


async def test_try_a_question_gives_the_widgets_answers_for_the_same_conversation(client, shop) -> None:
    messages = ["下单后多久能收到货？", "那运费呢？", "好的 谢谢", "公司税号", "转人工"]
    live = await converse(client, shop, *messages, visitor="v-try")
    tried = await engine.rehearse(shop.id, messages)
    assert [r.answer for r in tried] == [body["answer"] for body in live]
    assert [[c.source_ref for c in r.citations] for r in tried] == [
        [c["source_ref"] for c in body["citations"]] for body in live]
    assert [[s.source_ref for s in r.suggestions] for r in tried] == [
        [s["source_ref"] for s in body["suggestions"]] for body in live]
    assert [r.handoff for r in tried] == [body["handoff"] for body in live]
    with tenant_session_sync(shop.id) as session:  # only the live conversation was stored
        assert len(session.scalars(select(Conversation.id)).all()) == 1
