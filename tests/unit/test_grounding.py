"""Sentence-level grounding checks (chat.grounding): splitting, numbers, lexical support, actions."""

from __future__ import annotations

import pytest

from chat import grounding
from chat.grounding import check, split_sentences

FAQ = [
    "Unopened items can be returned within 14 days of delivery. Refunds go back to the original payment method.",
    "退货须知：未拆封的商品可在收货后十四天内退货，退款原路返回。",
]


def test_sentences_split_in_both_languages_and_join_back() -> None:
    text = "Returns take 14 days. Anything else?\n退货期限是14天。运费由我们承担！还有其他问题吗？"
    parts = split_sentences(text)
    assert parts[:2] == ["Returns take 14 days.", " Anything else?"]
    assert split_sentences("It weighs 2.5 kg. See shop.example.com now.") == [
        "It weighs 2.5 kg.",
        " See shop.example.com now.",
    ]
    assert [p.strip() for p in parts[-3:]] == ["退货期限是14天。", "运费由我们承担！", "还有其他问题吗？"]
    assert "".join(parts) == text


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("within 14 days", ["14"]),
        ("十四天内", ["14"]),
        ("两百元", ["200"]),
        ("一万二千件", ["12000"]),
        ("fourteen days", ["14"]),
        ("1,000 yuan or 2.5 kg", ["1000", "2.5"]),
        ("no numbers", []),
    ],
)
def test_numbers_are_read_as_digits_in_either_language(text, numbers) -> None:
    assert grounding._numbers(text) == numbers


def test_supported_sentences_pass_by_their_words_chinese_without_spaces() -> None:
    result = check(
        "Unopened items can be returned within 14 days of delivery. 未拆封的商品可在收货后十四天内退货。", FAQ
    )
    assert result.grounded and result.checked == 2 and result.supported == 2


def test_a_wrong_number_is_flagged_even_when_the_words_match() -> None:
    result = check("Unopened items can be returned within 30 days of delivery.", FAQ)
    assert not result.grounded
    assert result.flagged == [
        {
            "text": "Unopened items can be returned within 30 days of delivery.",
            "lexical": pytest.approx(0.86, abs=0.1),
            "dense": 0.0,
            "numbers_ok": False,
        }
    ]
    chinese = check("未拆封的商品可在收货后三十天内退货。", FAQ)
    assert not chinese.grounded and chinese.flagged[0]["numbers_ok"] is False


def test_questions_and_courtesies_make_no_claim() -> None:
    result = check("Is the item still sealed? Anything else I can help with? 还有其他问题吗？", FAQ)
    assert result.checked == 0 and result.grounded


def test_actions_flag_drop_or_fall_back() -> None:
    answer = "Unopened items can be returned within 14 days. We will also refund 30 dollars for shipping."
    result = check(answer, FAQ)
    assert result.checked == 2 and result.supported == 1
    assert result.answer("flag", "GROUNDED") == answer
    assert result.answer("drop", "GROUNDED") == "Unopened items can be returned within 14 days."
    assert result.answer("fallback", "GROUNDED") == "GROUNDED"
    # Nothing supported is left after dropping: the grounded answer instead of an empty reply.
    assert check("We will refund 30 dollars for shipping.", FAQ).answer("drop", "GROUNDED") == "GROUNDED"
