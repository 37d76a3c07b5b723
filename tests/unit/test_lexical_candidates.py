"""Which chunks the lexical half ranks: every query term, unless that matches too many chunks."""

from __future__ import annotations

from knowledge.retrieval import match_tsquery


def test_below_the_budget_any_term_that_occurs_matches() -> None:
    assert match_tsquery(["refund", "parcel", "zzz"], {"refund": 40, "parcel": 300, "zzz": 0}, 1000) == (
        "'refund' | 'parcel'"
    )


def test_over_the_budget_the_rarest_terms_and_chunks_with_every_term_are_candidates() -> None:
    df = {"ship": 6000, "refund": 400, "order": 5000, "tracking": 500}
    assert match_tsquery(["ship", "refund", "order", "tracking"], df, 1000) == (
        "'refund' | 'tracking' | ('refund' & 'tracking' & 'order' & 'ship')"
    )


def test_only_common_terms_leave_the_chunks_that_have_them_all() -> None:
    assert match_tsquery(["ship", "order"], {"ship": 6000, "order": 5000}, 1000) == "('order' & 'ship')"


def test_nothing_to_match_when_no_term_occurs() -> None:
    assert match_tsquery(["zzz"], {"zzz": 0}, 1000) is None
