"""Reading a tenant's labelled question set: which entry (or entries) should answer each question.

A CSV (any common encoding and delimiter, like knowledge uploads) with a header row naming a
question column and an expected column. The expected cell holds the id of the FAQ entry that
should answer (its `source_ref`, i.e. the `id` column of the uploaded FAQ) or its category;
several acceptable ids are separated by "|" or ";". An empty expected cell marks a question the
bot should NOT answer (out of scope): it scores as right when the bot says it does not know.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from core.errors import PayloadTooLarge, ValidationFailed
from knowledge.parsing.encoding import decode_text
from knowledge.parsing.qa import cell_text, normalise_header
from knowledge.retrieval import MAX_QUERY_CHARS

MAX_BYTES = 5 * 1024 * 1024
MAX_QUESTIONS = 5000
QUESTION_HEADERS = ("question", "query", "q", "问题", "提问", "问句")
EXPECTED_HEADERS = (
    "expected", "expectedid", "expectedids", "expectedsourceref", "sourceref", "faqid", "answerid", "gold",
    "label", "期望", "期望答案", "答案编号", "标准问题编号",
)  # fmt: skip
_DELIMITERS = (",", ";", "\t", "|")
_SPLIT = re.compile(r"\s*[|;]\s*")


@dataclass(frozen=True)
class LabelledQuestion:
    row: int  # 1-based data row (the header is row 0)
    question: str
    expected: frozenset[str]  # empty: out of scope, the bot should not answer

    @property
    def in_scope(self) -> bool:
        return bool(self.expected)


def parse_question_set(data: bytes) -> list[LabelledQuestion]:
    """The labelled questions of an uploaded CSV; raises a 4xx error saying what to fix."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"The question set is {len(data):,} bytes; the limit is {MAX_BYTES:,}.")
    text = decode_text(data).lstrip("\ufeff")
    if not text.strip():
        raise ValidationFailed("The question set is empty: upload a CSV with question and expected columns.")
    for delimiter in _DELIMITERS:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        header = [normalise_header(cell) for cell in rows[0]] if rows else []
        question = _find(header, QUESTION_HEADERS)
        expected = _find(header, EXPECTED_HEADERS)
        if question is not None and expected is not None:
            return _questions(rows[1:], question, expected)
    raise ValidationFailed(
        "The question set needs a header row with a question column (question / 问题) and an expected "
        "column (expected / faq_id / 期望) holding the id of the FAQ entry that should answer."
    )


def _find(header: list[str], aliases: tuple[str, ...]) -> int | None:
    return next((header.index(alias) for alias in aliases if alias in header), None)


def _questions(rows: list[list[str]], question_col: int, expected_col: int) -> list[LabelledQuestion]:
    out: list[LabelledQuestion] = []
    for number, row in enumerate(rows, start=1):
        question = cell_text(row[question_col]) if question_col < len(row) else ""
        expected = cell_text(row[expected_col]) if expected_col < len(row) else ""
        if not question:
            if expected:
                raise ValidationFailed(f"Row {number} has an expected entry but no question.")
            continue
        if len(question) > MAX_QUERY_CHARS:
            raise ValidationFailed(f"Row {number}: the question is longer than {MAX_QUERY_CHARS} characters.")
        out.append(LabelledQuestion(number, question, frozenset(e for e in _SPLIT.split(expected) if e)))
        if len(out) > MAX_QUESTIONS:
            raise ValidationFailed(f"The question set has more than {MAX_QUESTIONS:,} questions; split it.")
    if not out:
        raise ValidationFailed("The question set has no questions below its header.")
    return out
