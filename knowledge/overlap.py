"""Surface overlap between a customer's question and a stored FAQ question.

Two questions that ask the same thing usually share words, and in Chinese (short, colloquial,
often mistyped) they share characters even where the words are segmented differently. So a FAQ
hit's retrieval score gets `QUESTION_OVERLAP_WEIGHT x Jaccard(units of the query, units of the
stored question)` on top of the dense and lexical parts (`knowledge.retrieval.fuse`). Units are
our index tokens (`knowledge.lexical.tokens`: stemmed English words without stop words, numbers)
with Chinese counted per character (Traditional folded to Simplified) instead of per jieba word
or bigram. Jaccard, unlike the lexical share, is symmetric and penalises a long stored question
that merely contains the query's words. Prose chunks get no overlap: a question compared with a
paragraph says little. docs/log/2026-12-05-retrieval-pass-3.md has the measurements.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from knowledge.lexical import HAN_RE, normalize, tokens


@lru_cache(maxsize=65_536)
def question_units(text: str) -> frozenset[str]:
    """The units a question is compared by: non-Chinese index tokens plus Chinese characters."""
    words = {t for t in tokens(text) if not HAN_RE.search(t)}
    return frozenset(words | set(HAN_RE.findall(normalize(text))))


def question_overlap(query: str, question: str) -> float:
    """Jaccard similarity of the two questions' units, in [0, 1]."""
    a, b = question_units(query), question_units(question)
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def overlap_with(query: str) -> Callable[[str], float]:
    """`question_overlap(query, question)` for many questions, the query's units found once."""
    a = question_units(query)

    def overlap(question: str) -> float:
        b = question_units(question)
        union = len(a | b)
        return len(a & b) / union if union else 0.0

    return overlap
