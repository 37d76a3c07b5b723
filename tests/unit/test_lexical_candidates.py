"""Which chunks the lexical half ranks: every query term, unless that matches too many chunks."""

from __future__ import annotations

from knowledge.retrieval import match_tsquery


def test_below_the_budget_any_term_that_occurs_matches() -> None:
    assert match_tsquery(["refund", "parcel", "zzz"], {"refund": 40, "parcel": 300, "zzz": 0}, 1000, 5000) == (
        "'refund' | 'parcel'"
    )


def test_over_the_budget_the_rarest_terms_and_chunks_with_every_term_are_candidates() -> None:
    df = {"ship": 6000, "refund": 400, "order": 5000, "tracking": 500}
    assert match_tsquery(["ship", "refund", "order", "tracking"], df, 1000, 100_000) == (
        "'refund' | 'tracking' | ('refund' & 'tracking' & 'order' & 'ship')"
    )


def test_only_common_terms_leave_the_chunks_that_have_them_all() -> None:
    # 100,000 chunks: about 100,000 x 0.06 x 0.05 = 300 are expected to have both.
    assert match_tsquery(["ship", "order"], {"ship": 6000, "order": 5000}, 1000, 100_000) == "('order' & 'ship')"


def test_common_terms_expected_together_in_more_chunks_than_the_budget_match_nothing() -> None:
    # 20,000 chunks: about 1,500 are expected to have both, over the budget.
    assert match_tsquery(["ship", "order"], {"ship": 6000, "order": 5000}, 1000, 20_000) is None


def test_a_single_common_term_is_not_matched_on_its_own() -> None:
    # Its 50,000 chunks would all be ranked; fusion still gives dense candidates its (small) weight.
    assert match_tsquery(["ship", "zzz"], {"ship": 50_000, "zzz": 0}, 1000, 130_000) is None


def test_nothing_to_match_when_no_term_occurs() -> None:
    assert match_tsquery(["zzz"], {"zzz": 0}, 1000, 100) is None


def test_a_tenant_searched_through_its_partial_index_uses_the_smaller_budget(monkeypatch) -> None:
    from core.settings import get_settings
    from knowledge.retrieval import _lexical_params

    monkeypatch.setattr(get_settings(), "lexical_match_budget", 1000)
    monkeypatch.setattr(get_settings(), "lexical_match_budget_indexed", 250)
    df = {"rare": 100, "mid": 400, "common": 5000}
    exact: dict = {}
    indexed: dict = {}
    assert _lexical_params(exact, ["rare", "mid", "common"], df, 100_000, indexed=False)
    assert _lexical_params(indexed, ["rare", "mid", "common"], df, 100_000, indexed=True)
    # Each side ends with the rows expected to hold every term (they fit either budget).
    assert exact["match_tsq"].split(" | ")[:2] == ["'rare'", "'mid'"]  # 500 rows fit 1,000
    assert indexed["match_tsq"].split(" | ")[:2] == ["'rare'", "('rare' & 'mid' & 'common')"]  # 400 more: not 250
