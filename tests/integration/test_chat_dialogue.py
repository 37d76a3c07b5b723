"""How the built-in bot understands a turn (issue 18): small talk, requests for a person, follow-ups,
"did you mean" suggestions and a chosen suggestion, through the widget API with the real embedder."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from chat.prompts import phrase
from core.db import tenant_session_sync
from core.models import Conversation, Handoff, Message
from tests.integration.test_chat import ask, shop, widget  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


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
    "can somebody from the shop give me a ring about this",
])
async def test_requests_for_a_person_hand_the_conversation_over(client, shop, request_text) -> None:
    first = await ask(client, shop, "Can I cancel my order?", visitor_id="v-human")
    body = await ask(client, shop, request_text, visitor_id="v-human", conversation_id=first["conversation_id"])
    assert body["handoff"] is True and body["citations"] == [] and body["suggestions"] == []
    with tenant_session_sync(shop.id) as session:
        conversation = session.get(Conversation, uuid.UUID(body["conversation_id"]))
        assert conversation.handoff is True
        assert session.scalars(select(Handoff.source).where(Handoff.conversation_id == conversation.id)).all() == ["bot"]


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
