"""Query variants for questions in a conversation, chosen by calibrated confidence (chat.followups)."""

from __future__ import annotations

import uuid

from chat.followups import SWITCH_MARGIN, Topic, choose, clauses, slot_query, switch_cue, topic_of
from knowledge.confidence import CENTRE, SCALE
from knowledge.hits import Hit

DOC = uuid.uuid4()


def hit(ref: str, confidence: float) -> Hit:
    """A hit whose calibrated confidence is `confidence` (inverting the logistic curve)."""
    import math

    score = CENTRE + SCALE * math.log(confidence / (1 - confidence))
    return Hit(1, DOC, ref, ref, score, score, 0.0, {}, centred=score)


def retriever(results: dict[str, list[Hit]]):
    asked: list[str] = []

    async def retrieve(query: str) -> list[Hit]:
        asked.append(query)
        return results.get(query, [])

    retrieve.asked = asked  # type: ignore[attr-defined]
    return retrieve


def test_the_topic_is_the_last_question_and_the_entry_it_found() -> None:
    turns = [
        {
            "role": "user",
            "content": "how much is shipping to hong kong",
            "act": "question",
            "query": "how much is shipping to hong kong",
        },
        {"role": "assistant", "content": "25 yuan", "entry": "SHIP", "entry_question": "How much is shipping?"},
        {"role": "user", "content": "thanks", "act": "small_talk"},
        {"role": "assistant", "content": "You're welcome"},
    ]
    assert topic_of(turns) == Topic("how much is shipping to hong kong", "SHIP", "How much is shipping?")
    assert topic_of([]) is None
    # Turns read back from the database carry no notes: the last customer message is the topic.
    assert (
        topic_of([{"role": "user", "content": "能开发票吗"}, {"role": "assistant", "content": "可以"}]).query
        == "能开发票吗"
    )


def test_the_slot_variant_keeps_the_context_and_drops_the_old_slot() -> None:
    topic = Topic("how much is shipping to hong kong", "SHIP", "How much is shipping?")
    assert slot_query(topic, "and how long does it take?") == "and how long does it take? to hong kong"
    chinese = Topic("发货到成都运费多少", "FEE", "运费多少？")
    assert slot_query(chinese, "要几天") == "要几天 发货到成都"
    assert slot_query(Topic("能开发票吗"), "专票呢") is None  # no entry question known: no slot variant


async def test_a_stand_alone_question_wins_when_it_is_most_confident() -> None:
    search = retriever({"能开发票吗": [hit("INVOICE", 0.9)], "运费多少 能开发票吗": [hit("FEE", 0.6)]})
    choice = await choose("能开发票吗", Topic("运费多少", "FEE"), search)
    assert choice.variant == "alone" and choice.entry == "INVOICE"
    assert set(choice.tried) == {"alone", "joined"}


async def test_a_same_topic_follow_up_is_read_with_the_topic() -> None:
    search = retriever({"要利息吗": [hit("FEES", 0.2)], "能用花呗分期吗 要利息吗": [hit("HUABEI", 0.9)]})
    choice = await choose("要利息吗", Topic("能用花呗分期吗", "HUABEI"), search)
    assert choice.variant == "joined" and choice.entry == "HUABEI" and choice.alone_score < 0.5


async def test_a_new_entry_within_the_margin_beats_repeating_the_old_one() -> None:
    topic = Topic("发货到成都要几天", "DAYS", "发货后多久能到？")
    search = retriever(
        {"那运费呢": [hit("FEE", 0.8 - SWITCH_MARGIN / 2)], "发货到成都要几天 那运费呢": [hit("DAYS", 0.8)]}
    )
    choice = await choose("那运费呢", topic, search)
    assert choice.entry == "FEE"
    # Far below the old entry's confidence and with no switch cue, the new entry does not win.
    far = retriever({"运费多少": [hit("FEE", 0.3)], "发货到成都要几天 运费多少": [hit("DAYS", 0.8)]})
    assert (await choose("运费多少", topic, far, floor=0.2)).entry == "DAYS"


async def test_a_switch_cue_lets_a_new_entry_win_from_the_suggestion_floor_up() -> None:
    topic = Topic("花呗能分几期", "HUABEI", "能用花呗分期吗？")
    for message in ("那货到付款能分期吗", "货到付款呢？"):
        search = retriever({message: [hit("COD", 0.3)], f"花呗能分几期 {message}": [hit("HUABEI", 0.95)]})
        assert (await choose(message, topic, search, floor=0.2)).entry == "COD", message
    # Below the floor the new entry could not even be offered: the topic's entry stays.
    weak = retriever({"那评价晒图给多少": [hit("REVIEW", 0.1)], "花呗能分几期 那评价晒图给多少": [hit("HUABEI", 0.9)]})
    assert (await choose("那评价晒图给多少", topic, weak, floor=0.2)).entry == "HUABEI"
    english = Topic("can i watch it on my phone too", "TV-APP", "Can I watch TV on my phone?")
    search = retriever({"ok and a home phone?": [hit("LANDLINE", 0.55)],
                        "can i watch it on my phone too ok and a home phone?": [hit("TV-APP", 0.9)]})
    assert (await choose("ok and a home phone?", english, search, floor=0.2)).entry == "LANDLINE"


def test_switch_cues_are_discourse_markers_not_topic_words() -> None:
    for cued in ("那运费呢？", "邮费呢", "那么专票可以吗", "and how long does it take?", "what about students",
                 "ok and a home phone?", "How about PayPal"):
        assert switch_cue(cued), cued
    for plain in ("有效期多久啊", "要利息吗", "how much are they", "android phones?", "andrew here", "呢喃是什么"):
        assert not switch_cue(plain), plain


async def test_without_a_topic_only_the_message_is_retrieved() -> None:
    search = retriever({"hello": []})
    choice = await choose("hello", None, search)
    assert choice.variant == "alone" and choice.hits == [] and search.asked == ["hello"]  # type: ignore[attr-defined]


def test_a_message_breaks_into_the_clauses_worth_retrieving_alone() -> None:
    assert clauses("物流4天没动了 什么情况") == ["物流4天没动了", "什么情况"]
    assert clauses("hi, is there a shop i can visit in shenzhen?") == ["is there a shop i can visit in shenzhen"]
    assert clauses("收到的壳裂了一条缝 🙃") == ["收到的壳裂了一条缝"]
    # One clause, a decimal point or a thousands comma: nothing to split.
    for whole in ("能开发票吗", "is it 8.50 a month", "是1,000元吗", "thanks, bye"):
        assert clauses(whole) == [], whole
    assert clauses("a b, c d, e f, g h, i j") == []  # more than MAX_CLAUSES: a story, retrieved whole


async def is_question(text: str) -> bool:
    return text not in ("hello there", "你好")


async def test_a_clause_that_names_its_entry_wins_over_the_diluted_message() -> None:
    message = "ordered it on monday, when will it be delivered"
    search = retriever({message: [hit("PAYMENT", 0.3)], "ordered it on monday": [hit("ORDERS", 0.2)],
                        "when will it be delivered": [hit("DELIVERY", 0.8)]})
    choice = await choose(message, None, search, is_question=is_question, threshold=0.5)
    assert choice.variant == "clause" and choice.entry == "DELIVERY" and choice.alone_score < 0.5


async def test_a_clause_counts_only_from_the_threshold_and_only_when_it_reads_as_a_question() -> None:
    weak = "帮我算下 8块5一斤 一共多少钱"
    search = retriever({weak: [hit("FEE", 0.1)], "帮我算下": [hit("FEE", 0.1)], "8块5一斤": [hit("WEIGHT", 0.45)],
                        "一共多少钱": [hit("FEE", 0.2)]})
    assert (await choose(weak, None, search, is_question=is_question, threshold=0.5)).variant == "alone"
    greeting = "你好 运费多少"
    search = retriever({greeting: [hit("FEE", 0.4)], "你好": [hit("BILINGUAL", 0.9)], "运费多少": [hit("FEE", 0.7)]})
    choice = await choose(greeting, None, search, is_question=is_question, threshold=0.5)
    assert choice.entry == "FEE" and "你好" not in search.asked  # type: ignore[attr-defined]


async def test_a_confident_message_is_not_split() -> None:
    message = "买的膜裂了 能换吗"
    search = retriever({message: [hit("FILM", 0.9)]})
    choice = await choose(message, None, search, is_question=is_question, threshold=0.5)
    assert choice.variant == "alone" and search.asked == [message]  # type: ignore[attr-defined]
