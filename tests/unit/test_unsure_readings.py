"""Which unsure readings stand once the knowledge has been asked (chat.engine.not_answered_as_asked)."""

from __future__ import annotations

import math
import uuid

from chat import dialogue, followups
from chat.bot_settings import BotSettings
from chat.engine import not_answered_as_asked
from knowledge.confidence import CENTRE, SCALE, confidence
from knowledge.hits import Hit

DOC = uuid.uuid4()
SETTINGS = BotSettings()
HUMAN = dialogue.Reading(dialogue.HUMAN, "human", 0.1)
THANKS = dialogue.Reading(dialogue.SMALL_TALK, "thanks", 0.1)
TOPIC = followups.Topic("how much is shipping", "A", "How much is shipping?")


def score_of(conf: float) -> float:
    return CENTRE + SCALE * math.log(conf / (1 - conf))


def choice(*scored: tuple[str, float], alone: float | None = None) -> followups.Choice:
    hits = [Hit(i, DOC, ref, ref, s, s, 0.0, {}, centred=s) for i, (ref, s) in enumerate(scored)]
    picked = followups.Choice("joined", "q", hits, confidence(hits))
    picked.alone_score = picked.score if alone is None else alone
    return picked


def test_an_unsure_request_for_a_person_stands_only_when_the_bot_has_nothing_to_offer() -> None:
    nothing = choice(("A", score_of(0.1)), ("B", score_of(0.09)))  # below the floor: "I don't know"
    assert not_answered_as_asked(HUMAN, nothing, None, SETTINGS)
    listed = choice(("A", score_of(0.3)), ("B", score_of(0.29)))  # a "did you mean" list is a reading
    assert not not_answered_as_asked(HUMAN, listed, None, SETTINGS)
    answered = choice(("A", score_of(0.7)), ("B", score_of(0.2)))
    assert not not_answered_as_asked(HUMAN, answered, TOPIC, SETTINGS)
    led = choice(("B", score_of(0.3)), ("C", score_of(0.3) - 2 * SCALE))  # clear lead: it would be answered
    assert not not_answered_as_asked(HUMAN, led, TOPIC, SETTINGS)


def test_unsure_small_talk_stands_when_the_conversation_only_finds_the_entry_already_answered() -> None:
    repeat = choice(("A", score_of(0.9)), ("B", score_of(0.2)), alone=0.1)
    assert not_answered_as_asked(THANKS, repeat, TOPIC, SETTINGS)
    other = choice(("B", score_of(0.9)), ("A", score_of(0.2)), alone=0.1)
    assert not not_answered_as_asked(THANKS, other, TOPIC, SETTINGS)
    # a request for a person is stricter: the old entry found again at 0.9 is still an answer
    assert not not_answered_as_asked(HUMAN, repeat, TOPIC, SETTINGS)
