"""Splitting prose into chunks small enough to embed, along paragraph and sentence lines.

Paragraphs are kept whole when they fit; longer ones are split into sentences (English .!? and
Chinese 。！？；), and a sentence longer than a chunk is cut hard. Chunks are packed greedily and
each one starts with the previous chunk's trailing sentences (up to `overlap` characters) so an
answer that straddles a boundary is still found in one piece.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

# CJK punctuation, kana, bopomofo, ideographs and full-width forms (Hangul is spaced, so excluded).
_CJK = (
    r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f"
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v\u3000]*\n\s*")
_SPACES = re.compile(r"\s+")
# Line wraps inside Chinese text are not word breaks.
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}]) (?=[{_CJK}])")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
# A sentence ends at CJK punctuation anywhere, or at .!? followed by a space; closing quotes and
# brackets stay with the sentence they close.
_SENTENCE_END = re.compile(r"(?:[。！？；]+|[.!?]+(?=\s)|[.!?]+$)[\"'”’」』）)\]]*\s*")


@dataclass(frozen=True)
class _Sentence:
    text: str
    starts_paragraph: bool


def chunk_text(text: str, max_chars: int, overlap: int) -> list[str]:
    """Split `text` into chunks of at most `max_chars` characters; never returns empty strings."""
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    overlap = max(0, min(overlap, max_chars - 1))
    chunks: list[str] = []
    current: list[_Sentence] = []
    size = 0
    for unit in _units(text, max_chars):
        unit_size = _length(unit)
        if current and size + _gap(current, unit) + unit_size > max_chars:
            chunks.append(_render(current))
            current = _overlap_tail(current, overlap)
            size = _length(current)
            while current and size + _gap(current, unit) + unit_size > max_chars:
                current = current[1:]
                size = _length(current)
        size += _gap(current, unit) + unit_size
        current.extend(unit)
    if current:
        chunks.append(_render(current))
    return chunks


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs with whitespace collapsed; blank ones dropped."""
    paragraphs = []
    for raw in _PARAGRAPH_BREAK.split(text):
        paragraph = _SPACE_BETWEEN_CJK.sub("", _SPACES.sub(" ", raw).strip())
        if paragraph:
            paragraphs.append(paragraph)
    return paragraphs


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one normalised paragraph, punctuation kept, surrounding spaces dropped."""
    sentences = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        sentence = paragraph[start : match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _units(text: str, max_chars: int) -> list[list[_Sentence]]:
    """Groups that must not be split: whole paragraphs if they fit, else sentences or pieces."""
    units: list[list[_Sentence]] = []
    for paragraph in split_paragraphs(text):
        sentences = [s for sentence in split_sentences(paragraph) for s in _hard_split(sentence, max_chars)]
        marked = [_Sentence(s, starts_paragraph=(i == 0)) for i, s in enumerate(sentences)]
        if _length(marked) <= max_chars:
            units.append(marked)
        else:
            units.extend([sentence] for sentence in marked)
    return units


def _hard_split(sentence: str, max_chars: int) -> list[str]:
    """Cut an over-long sentence, at a space when there is one in the second half of the window."""
    pieces = []
    while len(sentence) > max_chars:
        cut = sentence.rfind(" ", max_chars // 2, max_chars + 1)
        if cut <= 0:
            cut = max_chars
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        pieces.append(sentence)
    return pieces


def _overlap_tail(sentences: list[_Sentence], overlap: int) -> list[_Sentence]:
    tail: list[_Sentence] = []
    for sentence in reversed(sentences):
        if _length([sentence, *tail]) > overlap:
            break
        tail.insert(0, sentence)
    return tail


def _joiner(previous: str, sentence: _Sentence) -> str:
    if sentence.starts_paragraph:
        return "\n\n"
    if _CJK_CHAR.match(previous[-1]) or _CJK_CHAR.match(sentence.text[0]):
        return ""
    return " "


def _render(sentences: list[_Sentence]) -> str:
    parts = [sentences[0].text]
    for previous, sentence in pairwise(sentences):
        parts.append(_joiner(previous.text, sentence))
        parts.append(sentence.text)
    return "".join(parts)


def _gap(chunk: list[_Sentence], unit: list[_Sentence]) -> int:
    """Length of the separator between a chunk and the unit appended to it."""
    return len(_joiner(chunk[-1].text, unit[0])) if chunk else 0


def _length(sentences: list[_Sentence]) -> int:
    return len(_render(sentences)) if sentences else 0
