"""Chunking prose: paragraphs, sentences (English and Chinese), hard splits and overlap."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from knowledge.chunking import chunk_text, split_paragraphs, split_sentences

ENGLISH = (
    "Returns are accepted within 30 days. Items must be unused! Do you need a receipt? Yes, always keep it."
)
CHINESE = "我们支持七天无理由退货。请保持商品完好！运费由谁承担？质量问题由我们承担；其他情况由买家承担。"


def _words(seed: int, count: int) -> str:
    rng = random.Random(seed)
    vocabulary = ["refund", "order", "shipping", "account", "password", "delivery", "invoice", "store"]
    sentences = []
    for _ in range(count):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(3, 15))]
        sentences.append(" ".join(words).capitalize() + rng.choice([".", "!", "?"]))
    paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    return "\n\n".join(paragraphs)


def test_short_document_is_one_chunk() -> None:
    assert chunk_text("Hello there.  How are you?\n", 800, 100) == ["Hello there. How are you?"]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t\n"])
def test_blank_text_gives_no_chunks(text: str) -> None:
    assert chunk_text(text, 800, 100) == []


def test_english_sentences_split_on_terminal_punctuation() -> None:
    assert split_sentences(ENGLISH) == [
        "Returns are accepted within 30 days.",
        "Items must be unused!",
        "Do you need a receipt?",
        "Yes, always keep it.",
    ]


def test_decimal_points_do_not_end_sentences() -> None:
    assert split_sentences("It costs 3.50 dollars. Done.") == ["It costs 3.50 dollars.", "Done."]


def test_chinese_sentences_split_on_cjk_punctuation_without_spaces() -> None:
    assert split_sentences(CHINESE) == [
        "我们支持七天无理由退货。",
        "请保持商品完好！",
        "运费由谁承担？",
        "质量问题由我们承担；",
        "其他情况由买家承担。",
    ]


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert split_sentences("他说：“好的。”然后走了。") == ["他说：“好的。”", "然后走了。"]


def test_paragraphs_have_whitespace_collapsed() -> None:
    assert split_paragraphs("  one\n two  \n\n\n three\t\tfour \n") == ["one two", "three four"]


def test_line_wraps_inside_chinese_text_are_joined_without_spaces() -> None:
    assert split_paragraphs("我们支持七天\n无理由退货。") == ["我们支持七天无理由退货。"]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("max_chars", "overlap"), [(80, 0), (200, 50), (500, 120)])
def test_chunks_respect_the_size_limit_and_are_never_empty(seed: int, max_chars: int, overlap: int) -> None:
    chunks = chunk_text(_words(seed, 60), max_chars, overlap)

    assert len(chunks) > 1
    assert all(0 < len(chunk) <= max_chars for chunk in chunks)
    assert all(chunk == chunk.strip() and "  " not in chunk for chunk in chunks)


def test_every_sentence_appears_in_some_chunk() -> None:
    text = _words(7, 40)
    chunks = chunk_text(text, 150, 40)

    for paragraph in split_paragraphs(text):
        for sentence in split_sentences(paragraph):
            assert any(sentence in chunk for chunk in chunks), sentence


def test_whole_paragraphs_are_kept_together_when_they_fit() -> None:
    first = "First paragraph sentence one. First paragraph sentence two."
    second = "Second paragraph sentence one. Second paragraph sentence two."

    assert chunk_text(f"{first}\n\n{second}", len(first) + 10, 0) == [first, second]


def test_paragraph_breaks_are_kept_inside_a_chunk() -> None:
    assert chunk_text("One.\n\nTwo.", 800, 0) == ["One.\n\nTwo."]


def test_chinese_text_is_chunked_at_sentence_ends() -> None:
    chunks = chunk_text(CHINESE * 5, 40, 0)

    assert len(chunks) > 1
    assert all(len(chunk) <= 40 for chunk in chunks)
    assert all(chunk[-1] in "。！？；" for chunk in chunks)
    assert "".join(chunks) == CHINESE * 5


def test_over_long_sentence_is_hard_split() -> None:
    sentence = "很" * 250 + "。"
    chunks = chunk_text(sentence, 100, 0)

    assert [len(chunk) for chunk in chunks] == [100, 100, 51]
    assert "".join(chunks) == sentence


def test_over_long_english_sentence_is_split_at_spaces() -> None:
    sentence = " ".join(["word"] * 100) + "."
    chunks = chunk_text(sentence, 60, 0)

    assert all(len(chunk) <= 60 for chunk in chunks)
    assert all(not chunk.startswith("ord") for chunk in chunks)
    assert " ".join(chunks) == sentence


def _overlap(previous: str, current: str) -> str:
    """The longest end of `previous` that `current` starts with."""
    for size in range(min(len(previous), len(current)), 0, -1):
        if current.startswith(previous[-size:]):
            return previous[-size:]
    return ""


def test_overlap_repeats_trailing_sentences_in_the_next_chunk() -> None:
    sentences = [f"Sentence number {n} is here." for n in range(10)]
    chunks = chunk_text(" ".join(sentences), 100, 30)

    assert len(chunks) > 2
    for previous, current in pairwise(chunks):
        assert _overlap(previous, current) == split_sentences(previous)[-1]


def test_overlap_never_carries_a_sentence_longer_than_overlap() -> None:
    sentences = [f"Sentence number {n} is here." for n in range(10)]
    chunks = chunk_text(" ".join(sentences), 100, 10)

    joined_lengths = sum(len(chunk) for chunk in chunks) + len(chunks) - 1
    assert joined_lengths == len(" ".join(sentences))


def test_chinese_overlap_carries_whole_sentences_up_to_the_overlap() -> None:
    chunks = chunk_text(CHINESE * 3, 50, 15)

    assert len(chunks) > 2
    for previous, current in pairwise(chunks):
        carried = _overlap(previous, current)
        assert 0 < len(carried) <= 15
        assert carried[-1] in "。！？；"
        assert previous.endswith(split_sentences(previous)[-1]) and carried.endswith(
            split_sentences(previous)[-1]
        )


def test_chunking_is_deterministic() -> None:
    text = _words(3, 80) + "\n\n" + CHINESE * 10
    assert chunk_text(text, 120, 30) == chunk_text(text, 120, 30)


def test_overlap_as_large_as_the_chunk_still_terminates() -> None:
    chunks = chunk_text(_words(1, 30), 50, 500)
    assert all(0 < len(chunk) <= 50 for chunk in chunks)


def test_non_positive_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_text("text", 0, 0)
