"""Question overlap: word/character Jaccard between a customer's question and a stored question."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from knowledge.overlap import question_overlap, question_units
from knowledge.retrieval import fuse


def test_chinese_is_compared_by_character_across_scripts_and_segmentation() -> None:
    assert question_units("還款銀行怎麼更換") == question_units("还款银行怎么更换")
    # 8 characters each, 6 shared ("还款", "怎么更换"): 6 / 10
    assert question_overlap("还款银行怎么更换", "怎么更换还款的卡") == pytest.approx(6 / 10)


def test_english_is_compared_by_stemmed_words_without_stop_words() -> None:
    assert question_units("How do I cancel my orders?") == frozenset({"cancel", "order"})
    assert question_overlap("How do I cancel my orders?", "Cancel an order") == 1.0
    assert question_overlap("Cancel an order", "Track a parcel") == 0.0


def test_nothing_to_compare_is_no_overlap() -> None:
    assert question_overlap("?", "!!") == 0.0


def row(chunk_id: int, dense: float, metadata: dict) -> SimpleNamespace:
    return SimpleNamespace(id=chunk_id, document_id=uuid.uuid4(), source_ref=str(chunk_id), text="t",
                           metadata=metadata, dense=dense, matched=[])


def test_fusion_lifts_the_faq_whose_question_is_worded_like_the_query() -> None:
    rows = [row(1, 0.900, {"question": "如何提前还款", "answer": "a"}),
            row(2, 0.895, {"question": "怎么更换还款银行卡", "answer": "b"}),
            row(3, 0.899, {})]  # prose: no stored question, no overlap
    plain = fuse(rows, 3, 0.0, {}, "还款银行卡怎么更换", 0.0)
    lifted = fuse(rows, 3, 0.0, {}, "还款银行卡怎么更换", 0.08)
    assert [h.chunk_id for h in plain] == [1, 3, 2]
    assert [h.chunk_id for h in lifted] == [2, 1, 3]
    assert lifted[0].overlap == 1.0 and lifted[0].score == pytest.approx(0.895 + 0.08)
    assert next(h for h in lifted if h.chunk_id == 3).score == pytest.approx(0.899)


def test_only_the_returned_hits_have_their_metadata_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The statement gives question and answer as columns and the metadata as JSON text; fusion
    ranks on the columns and decodes the JSON of the hits it returns only."""
    import json

    from knowledge import retrieval

    decoded: list[str] = []
    real_loads = json.loads
    monkeypatch.setattr(retrieval.json, "loads", lambda raw: decoded.append(raw) or real_loads(raw))
    rows = []
    for n in range(20):
        metadata = {"question": f"question {n}", "answer": f"answer {n % 7}", "category": f"c{n}"}
        rows.append(SimpleNamespace(id=n, document_id=uuid.uuid4(), source_ref=str(n), text="t",
                                    metadata=json.dumps(metadata), question=metadata["question"],
                                    answer=metadata["answer"], dense=0.5 + n / 100, matched=[]))
    hits = fuse(rows, 3, 0.0, {}, "question 19", 0.08)
    assert len(decoded) == 3
    assert [h.metadata["category"] for h in hits] == [f"c{h.chunk_id}" for h in hits]
    assert hits[0].chunk_id == 19  # ranked on the columns: answer groups and overlap still apply
