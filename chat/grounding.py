"""Grounded answers: is each sentence a model wrote supported by the passages and tool results it had?

A model may add what no passage says ("returns are free", "within 30 days" where the FAQ says 14).
After the model answers, every claim sentence is checked against the evidence (the retrieved
passages it was shown and the results of the tools it called):

- lexical support: the share of the sentence's terms (the search tokenizer's: stemmed English
  words, Chinese words and character bigrams, so Chinese needs no spaces) found in the evidence;
- embedding support: the highest cosine between the sentence and any evidence sentence, with the
  configured embedder (multilingual, so a Chinese answer can be supported by an English passage);
- numbers: every number in the sentence (Chinese numerals read as digits) must occur in the
  evidence: a wrong price or deadline is the costliest invention.

A sentence is supported when its numbers occur and either signal clears its bar. Questions back to
the customer and courtesies ("anything else I can help with?") make no claim and are not checked.
The tenant's `grounding_action` decides what happens to an answer with unsupported sentences:
`flag` (kept, recorded), `drop` (the unsupported sentences are removed) or `fallback` (the grounded
answer composed from the passages replaces it). Every check is stored in `answer_checks`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.db import tenant_session
from core.models import AnswerCheck
from knowledge.embedding import get_embedder
from knowledge.lexical import query_tokens

LEXICAL_SUPPORT = 0.6  # share of a sentence's terms found in the evidence
DENSE_SUPPORT = 0.88  # cosine to the closest evidence sentence (multilingual-e5: paraphrases score ~0.9)
# A sentence whose numbers all occur in the evidence is anchored: a lower cosine suffices (a Chinese
# paraphrase of an English passage scores ~0.86, an unanchored invention on the same topic ~0.87).
DENSE_SUPPORT_ANCHORED = 0.84
MIN_TERMS = 2  # fewer terms: nothing to check ("OK.", "好的。")
# A sentence ends at . ! ? ; followed by a space or the end (not inside "2.5" or "example.com"), at
# 。！？； and at a line end.
_SENTENCE = re.compile(r".+?(?:[.!?;]+(?=\s|$)|[。！？；]+|\n|$)", re.S)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_COURTESY = re.compile(
    r"(anything else|let me know|happy to help|glad to help|hope this helps|feel free|thank you|thanks|"
    r"how can i help|还有什么|还有其他|很高兴|乐意|希望对您有帮助|随时|谢谢|感谢|请问还有)",
    re.IGNORECASE,
)
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
_EN_NUMBERS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "ninety": "90", "hundred": "100"}
_EN_NUMBER = re.compile(r"\b(" + "|".join(_EN_NUMBERS) + r")\b", re.IGNORECASE)


@dataclass
class SentenceCheck:
    text: str
    lexical: float = 1.0
    dense: float = 1.0
    numbers_ok: bool = True
    checked: bool = False
    anchored: bool = False  # it has numbers, and all of them occur in the evidence

    @property
    def supported(self) -> bool:
        if not self.checked:
            return True
        dense_bar = DENSE_SUPPORT_ANCHORED if self.anchored else DENSE_SUPPORT
        return self.numbers_ok and (self.lexical >= LEXICAL_SUPPORT or self.dense >= dense_bar)

    def flag(self) -> dict[str, Any]:
        return {
            "text": self.text.strip(),
            "lexical": round(self.lexical, 3),
            "dense": round(self.dense, 3),
            "numbers_ok": self.numbers_ok,
        }


@dataclass
class Grounding:
    sentences: list[SentenceCheck] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return sum(s.checked for s in self.sentences)

    @property
    def supported(self) -> int:
        return sum(s.checked and s.supported for s in self.sentences)

    @property
    def grounded(self) -> bool:
        return all(s.supported for s in self.sentences)

    @property
    def flagged(self) -> list[dict[str, Any]]:
        return [s.flag() for s in self.sentences if not s.supported]

    def answer(self, action: str, fallback: str) -> str:
        """The answer the customer gets under `action` (flag | drop | fallback)."""
        if self.grounded or action == "flag":
            return "".join(s.text for s in self.sentences).strip()
        if action == "drop":
            kept = "".join(s.text for s in self.sentences if s.supported).strip()
            # Only courtesies left, or nothing: the claims were the answer, so answer from the knowledge.
            if any(s.checked and s.supported for s in self.sentences) and kept:
                return kept
        return fallback


def split_sentences(text: str) -> list[str]:
    """`text` cut after ., !, ?, 。, ！, ？, ； and line ends; the pieces joined give `text` back."""
    return [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0)]


def check(answer: str, evidence: list[str]) -> Grounding:
    """Each sentence of `answer` checked against `evidence` (passages, tool results)."""
    grounding = Grounding([SentenceCheck(s) for s in split_sentences(answer)])
    claims = [s for s in grounding.sentences if _is_claim(s.text)]
    if not claims:
        return grounding
    evidence_text = "\n".join(evidence)
    evidence_terms = set(query_tokens(evidence_text))
    evidence_numbers = set(_numbers(evidence_text))
    units = [u.strip() for text in evidence for u in split_sentences(text) if len(u.strip()) > 3][:200]
    for sentence in claims:
        sentence.checked = True
        terms = query_tokens(sentence.text)
        sentence.lexical = sum(t in evidence_terms for t in terms) / len(terms)
        numbers = _numbers(sentence.text)
        sentence.numbers_ok = all(n in evidence_numbers for n in numbers)
        sentence.anchored = bool(numbers) and sentence.numbers_ok
    pending = [s for s in claims if s.numbers_ok and s.lexical < LEXICAL_SUPPORT]
    if pending and units:
        vectors = get_embedder().embed_passages([s.text.strip() for s in pending] + units)
        scores = np.asarray(vectors[: len(pending)]) @ np.asarray(vectors[len(pending) :]).T
        for sentence, row in zip(pending, scores, strict=True):
            sentence.dense = float(row.max())
    for sentence in claims:
        if sentence not in pending:
            sentence.dense = sentence.dense if sentence.numbers_ok else 0.0
    return grounding


def _is_claim(sentence: str) -> bool:
    text = sentence.strip()
    if not text or text[-1] in "?？" or _COURTESY.search(text):
        return False
    return len(query_tokens(text)) >= MIN_TERMS


def _numbers(text: str) -> list[str]:
    """The numbers in `text` as digits (1,000 → 1000; 十四 → 14; fourteen → 14)."""
    digits = _CN_NUMBER.sub(lambda m: str(_chinese_number(m.group(0))), text)
    digits = _EN_NUMBER.sub(lambda m: _EN_NUMBERS[m.group(0).lower()], digits)
    return [n.replace(",", "") for n in _NUMBER.findall(digits)]


def _chinese_number(numeral: str) -> int:
    total, section, digit = 0, 0, 0
    for char in numeral:
        if char in _CN_DIGITS:
            digit = _CN_DIGITS[char]
        elif char == "万":
            total += (section + digit) * 10000
            section, digit = 0, 0
        else:
            section += (digit or 1) * _CN_UNITS[char]
            digit = 0
    return total + section + digit


async def record(
    tenant_id: uuid.UUID, message_id: uuid.UUID, grounding: Grounding, action: str, question: str, draft: str
) -> None:
    """Store the check of one answer (answer_checks), for the grounded rate and the flagged list."""
    async with tenant_session(tenant_id) as session:
        session.add(
            AnswerCheck(
                tenant_id=tenant_id,
                message_id=message_id,
                sentences=grounding.checked,
                supported=grounding.supported,
                grounded=grounding.grounded,
                action=action,
                flagged=grounding.flagged,
                question=question[:2000],
                draft=draft[:8000],
            )
        )
