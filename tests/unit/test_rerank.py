"""Answer groups: several phrasings of one answer support it; distinct answers rank as before."""

from __future__ import annotations

import uuid

import pytest

from knowledge.hits import Hit
from knowledge.rerank import GROUP_SHARE, GROUP_SIZE, by_answer_group, questions_first

DOC = uuid.uuid4()


def hit(chunk_id: int, score: float, answer: str | None) -> Hit:
    metadata = {"kind": "faq", "question": f"q{chunk_id}", "answer": answer} if answer else {}
    return Hit(chunk_id, DOC, str(chunk_id), f"text {chunk_id}", score, score, 0.0, metadata)


def test_an_answer_backed_by_several_phrasings_beats_one_lucky_phrasing() -> None:
    hits = [hit(1, 0.90, "refund"), hit(2, 0.89, "shipping"), hit(3, 0.88, "shipping"), hit(4, 0.875, "shipping"),
            hit(5, 0.87, "shipping"), hit(6, 0.865, "shipping"), hit(7, 0.80, "refund"), hit(8, 0.70, None)]
    ranked = by_answer_group(hits)
    assert ranked[0].chunk_id == 2
    shipping_support = (0.89 + 0.88 + 0.875 + 0.87 + 0.865) / GROUP_SIZE
    assert ranked[0].score == pytest.approx((1 - GROUP_SHARE) * 0.89 + GROUP_SHARE * shipping_support)


def test_distinct_answers_and_prose_keep_their_scores_and_order() -> None:
    hits = [hit(1, 0.91, "a"), hit(2, 0.90, None), hit(3, 0.85, "b")]
    assert [(h.chunk_id, h.score) for h in by_answer_group(hits)] == [(1, 0.91), (2, 0.90), (3, 0.85)]


def test_missing_phrasings_count_at_the_weakest_candidate() -> None:
    hits = [hit(1, 0.95, "a"), hit(2, 0.94, "a"), hit(3, 0.60, "b")]
    top = by_answer_group(hits)[0]
    support = (0.95 + 0.94 + 3 * 0.60) / GROUP_SIZE
    assert top.chunk_id == 1
    assert top.score == pytest.approx((1 - GROUP_SHARE) * 0.95 + GROUP_SHARE * support)


def test_no_hits_give_no_hits() -> None:
    assert by_answer_group([]) == []


def faq(chunk_id: int, score: float, question: str) -> Hit:
    metadata = {"kind": "faq", "question": question, "answer": f"answer {chunk_id}"}
    return Hit(chunk_id, DOC, str(chunk_id), f"text {chunk_id}", score, score, 0.0, metadata)


def test_each_stored_question_is_shown_once_before_its_further_answers() -> None:
    hits = [faq(1, 0.95, "strikethrough?"), faq(2, 0.94, "strikethrough?"), faq(3, 0.93, "strikethrough?"),
            faq(4, 0.92, "paste plain text?"), hit(5, 0.91, None)]
    ranked = questions_first(hits)
    assert [h.chunk_id for h in ranked] == [1, 4, 5, 2, 3]
    assert [h.score for h in ranked[:3]] == [0.95, 0.92, 0.91]  # order changes, scores do not


def test_distinct_questions_keep_their_order() -> None:
    hits = [faq(1, 0.9, "a"), faq(2, 0.8, "b"), hit(3, 0.7, None)]
    assert questions_first(hits) == hits
