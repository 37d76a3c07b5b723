"""How the local responder picks and words an answer from passages (issue 18: answers read well)."""

from __future__ import annotations

from chat.providers.local import answer_passage, compose_from_passages

GUIDE = (
    "Green tea\n绿茶建议用80°C的水冲泡，浸泡2到3分钟。Brew green tea at 80°C for 2 to 3 minutes.\n"
    "Black tea\n红茶用沸水冲泡。Use boiling water for black tea."
)
STORAGE = {
    "text": "How should I store tea?\nKeep it airtight.",
    "score": 0.5192,
    "metadata": {"kind": "faq", "answer": "Keep it airtight and away from light."},
}


def passage(text: str, score: float) -> dict:
    return {"text": text, "score": score, "metadata": {}}


def test_a_heading_is_not_glued_to_the_next_sentence() -> None:
    answer = compose_from_passages("绿茶 水温", [passage(GUIDE, 0.6)], "zh")
    assert "Green tea" not in answer and "Black tea" not in answer
    assert answer.startswith("绿茶建议用80°C的水冲泡")


def test_the_top_entry_wins_when_it_speaks_the_customers_language() -> None:
    # A bilingual guide ranked first stays first against an English FAQ row a hair behind it.
    assert answer_passage([passage(GUIDE, 0.5199), STORAGE], "en") == 0
    assert "80°C" in compose_from_passages("What temperature for green tea?", [passage(GUIDE, 0.5199), STORAGE], "en")


def test_a_near_tie_in_the_customers_language_wins_over_another_language() -> None:
    chinese_only = passage("绿茶建议用80°C的水冲泡，浸泡2到3分钟。", 0.60)
    english = {"text": "Brew green tea at 80°C.", "score": 0.59, "metadata": {}}
    assert answer_passage([chinese_only, english], "en") == 1
    far = {"text": "Brew green tea at 80°C.", "score": 0.50, "metadata": {}}
    assert answer_passage([chinese_only, far], "en") == 0  # not a near-tie: the top entry stays
