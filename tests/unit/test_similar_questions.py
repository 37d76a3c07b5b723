"""Similar questions: splitting and tidying wordings, expanding rows for indexing, folding hits into rows."""

from __future__ import annotations

import uuid

import pytest

from core.errors import ValidationFailed
from knowledge.hits import Hit
from knowledge.parsing import Passage
from knowledge.parsing.qa import match_columns
from knowledge.similar_questions import as_row, checked, expand, fold_into_rows, split, tidy

DOC = uuid.uuid4()


def test_split_takes_pipes_full_width_pipes_new_lines_and_lists():
    assert split("a | b｜c\n\nd") == ["a", "b", "c", "d"]
    assert split(["x ", None, ""]) == ["x"]
    assert split(None) == []


def test_tidy_drops_duplicates_and_the_question_itself_ignoring_case_and_spaces():
    assert tidy(
        ["Where is it?", "where  is it?", "WHERE is my parcel", "where is my parcel"], "Where is my parcel"
    ) == ["Where is it?"]


def test_checked_refuses_too_many_too_long_and_non_lists():
    with pytest.raises(ValidationFailed, match="at most 50"):
        checked([str(i) for i in range(51)], "q")
    with pytest.raises(ValidationFailed, match="limit is 1000"):
        checked(["x" * 1001], "q")
    with pytest.raises(ValidationFailed, match="list of questions"):
        checked(5, "q")
    assert checked("a|b", "q") == ["a", "b"]


@pytest.mark.parametrize("header", ["similar_questions", "Similar Questions", "相似问题", "相似问法", "variants"])
def test_upload_headers_name_the_similar_column(header):
    columns = match_columns(["id", "question", "answer", header])
    assert columns is not None and columns.similar == 3


def test_expand_adds_a_passage_per_wording_at_the_rows_ordinal():
    row = Passage(
        "Q?\nA.",
        "r1",
        {"kind": "faq", "question": "Q?", "answer": "A.", "category": "c", "similar_questions": ["q1", "q2"]},
    )
    prose = Passage("text", "p1", {"heading": "h"})
    passages, ordinals = expand([row, prose], [4, 7])
    assert ordinals == [4, 4, 4, 7]
    assert passages[1] == Passage(
        "q1\nA.", "r1", {"kind": "faq", "question": "q1", "answer": "A.", "category": "c", "variant_of": "Q?"}
    )
    assert passages[3] is prose


def _hit(chunk_id: int, ref: str, question: str, score: float, answer: str = "A.", **extra) -> Hit:
    return Hit(
        chunk_id,
        DOC,
        ref,
        f"{question}\n{answer}",
        score,
        score,
        0.0,
        {"question": question, "answer": answer, **extra},
    )


def test_a_row_takes_its_best_wordings_place_and_is_shown_by_its_own_chunk():
    hits = [_hit(2, "r1", "q1", 0.9), _hit(3, "r2", "Other?", 0.7, "B."), _hit(1, "r1", "Q?", 0.5)]  # best first
    folded = fold_into_rows(hits, {2: "Q?"})
    assert [(h.chunk_id, h.score) for h in folded] == [(1, 0.9), (3, 0.7)]
    assert folded[0].metadata["matched_question"] == "q1"


def test_a_wording_without_its_row_among_the_candidates_stands_for_the_row():
    folded = fold_into_rows([_hit(2, "r1", "q1", 0.9)], {2: "Q?"})
    assert [(h.chunk_id, h.metadata["question"]) for h in folded] == [(2, "Q?")]
    shown = as_row(Hit(2, DOC, "r1", "q1\nA.", 0.9, 0.9, 0.0, {"question": "q1", "answer": "A.", "variant_of": "Q?"}))
    assert (shown.text, shown.metadata) == ("Q?\nA.", {"question": "Q?", "answer": "A.", "matched_question": "q1"})


def test_rows_sharing_an_id_but_not_a_question_stay_apart_and_prose_passes_through():
    prose = Hit(9, DOC, "p", "text", 0.4, 0.4, 0.0, {})
    hits = [_hit(1, "r1", "Q?", 0.5), _hit(4, "r1", "Another?", 0.6, "C."), prose]
    assert sorted(h.chunk_id for h in fold_into_rows(hits, {7: "Q?"})) == [1, 4, 9]
    assert fold_into_rows(hits, {}) is hits
