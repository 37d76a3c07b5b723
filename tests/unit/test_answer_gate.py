"""The answering gate below the threshold (chat.engine.clear_lead): a top entry that stands out is answered."""

from __future__ import annotations

import math
import uuid

from chat.bot_settings import BotSettings
from chat.engine import clear_lead, suggestion_floor
from knowledge.confidence import CENTRE, SCALE, confidence
from knowledge.hits import Hit

DOC = uuid.uuid4()


def hit(ref: str | None, score: float, chunk: int = 1) -> Hit:
    return Hit(chunk, DOC, ref, ref or "passage", score, score, 0.0, {}, centred=score)


def score_of(conf: float) -> float:
    return CENTRE + SCALE * math.log(conf / (1 - conf))


SETTINGS = BotSettings()


def test_a_top_entry_one_unit_ahead_of_the_next_is_answered_below_the_threshold() -> None:
    top = score_of(0.3)
    hits = [hit("A", top), hit("B", top - 1.05 * SCALE, 2), hit("C", top - 2 * SCALE, 3)]
    assert suggestion_floor(SETTINGS) <= confidence(hits) < SETTINGS.confidence_threshold
    assert clear_lead(hits, confidence(hits), SETTINGS)


def test_near_ties_and_weak_tops_keep_the_did_you_mean_list() -> None:
    top = score_of(0.3)
    near = [hit("A", top), hit("B", top - 0.9 * SCALE, 2)]
    assert not clear_lead(near, confidence(near), SETTINGS)
    weak = [hit("A", score_of(0.1)), hit("B", score_of(0.1) - 3 * SCALE, 2)]
    assert not clear_lead(weak, confidence(weak), SETTINGS)  # below the suggestion floor: "I don't know"


def test_the_runner_up_is_the_next_distinct_entry_and_one_entry_alone_has_no_lead() -> None:
    top = score_of(0.3)
    same_row = [hit("A", top), hit("A", top - 0.1 * SCALE, 2), hit("B", top - 0.5 * SCALE, 3)]
    assert not clear_lead(same_row, confidence(same_row), SETTINGS)  # A's second chunk is not a rival; B is near
    assert not clear_lead([hit("A", top)], confidence([hit("A", top)]), SETTINGS)


def test_the_floor_follows_the_tenants_threshold() -> None:
    strict = BotSettings(confidence_threshold=0.9)
    top = score_of(0.3)
    hits = [hit("A", top), hit("B", top - 2 * SCALE, 2)]
    assert clear_lead(hits, confidence(hits), SETTINGS)
    assert not clear_lead(hits, confidence(hits), strict)  # 0.3 < 0.4 × 0.9
    assert not clear_lead(hits, confidence(hits), BotSettings(answer_clear_lead=False))


def test_reranked_hits_are_measured_in_the_rerankers_own_unit() -> None:
    from dataclasses import replace

    from core.settings import get_settings

    curve = (get_settings().rerank_confidence_centre, get_settings().rerank_confidence_scale)
    unit = curve[1]
    top = curve[0] - unit  # confidence about 0.27 on the reranker's curve
    hits = [replace(hit("A", top), reranked=True, curve=curve),
            replace(hit("B", top - 1.05 * unit, 2), reranked=True, curve=curve)]
    assert clear_lead(hits, confidence(hits), SETTINGS)
    close = [hits[0], replace(hit("B", top - 0.5 * unit, 2), reranked=True, curve=curve)]
    assert not clear_lead(close, confidence(close), SETTINGS)


def test_a_lead_made_by_words_alone_is_not_a_clear_lead() -> None:
    from dataclasses import replace

    top = score_of(0.3)
    # A leads by two units in the fused score, but only through its lexical part: on meaning B is closer.
    worded = [replace(hit("A", top), centred=0.20), replace(hit("B", top - 2 * SCALE, 2), centred=0.25)]
    assert not clear_lead(worded, confidence(worded), SETTINGS)
    meant = [replace(hit("A", top), centred=0.30), replace(hit("B", top - 2 * SCALE, 2), centred=0.25)]
    assert clear_lead(meant, confidence(meant), SETTINGS)
    from chat.engine import _meaning

    assert _meaning(replace(meant[0], centred=None, dense=0.8)) == 0.8  # centring off: the plain cosine
