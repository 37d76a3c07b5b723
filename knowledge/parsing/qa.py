"""Q&A tables (CSV, XLSX, JSON): finding the columns by header and turning rows into passages."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.errors import DocumentParseError
from core.settings import get_settings
from knowledge.parsing import wordings
from knowledge.parsing.passage import Passage, clean_text

# In order of preference, for tables that have more than one candidate column.
QUESTION_HEADERS = ("question", "questions", "q", "query", "title", "问题", "问", "提问", "标准问题", "问句")
ANSWER_HEADERS = (
    "answer", "answers", "a", "reply", "response", "content", "答案", "答", "回答", "回复", "解答"
)  # fmt: skip
ID_HEADERS = ("id", "faqid", "编号", "序号")
CATEGORY_HEADERS = ("category", "type", "分类", "类别", "类型")
# Other wordings of the row's question, several in one cell separated by | or new lines.
SIMILAR_HEADERS = (
    "similarquestions", "similarquestion", "similar", "alternativequestions", "alternatequestions",
    "questionvariants", "variants", "paraphrases", "相似问题", "相似问法", "相似问", "扩展问题", "扩展问",
    "同义问题", "其他问法", "相似問題", "相似問法",
)  # fmt: skip
EXPECTED_COLUMNS = "expected columns question and answer (or 问题 and 答案)"

_HEADER_NOISE = re.compile(r"[\s_\-:*]+")


@dataclass(frozen=True)
class QAColumns:
    """Positions of the Q&A columns in a header row."""

    question: int
    answer: int
    id: int | None = None
    category: int | None = None
    similar: int | None = None


def match_columns(headers: Sequence[object]) -> QAColumns | None:
    """The Q&A columns of a header row, or None unless both question and answer are present."""
    names = [normalise_header(header) for header in headers]
    taken: set[int] = set()

    def find(aliases: tuple[str, ...]) -> int | None:
        for alias in aliases:
            for index, name in enumerate(names):
                if name == alias and index not in taken:
                    taken.add(index)
                    return index
        return None

    question, answer = find(QUESTION_HEADERS), find(ANSWER_HEADERS)
    if question is None or answer is None:
        return None
    return QAColumns(question, answer, find(ID_HEADERS), find(CATEGORY_HEADERS), find(SIMILAR_HEADERS))


def normalise_header(header: object) -> str:
    """Header text compared case-, width- and space-insensitively ("Faq ID" == "faq_id")."""
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", cell_text(header)).casefold())


def missing_columns_error(found: Sequence[object]) -> DocumentParseError:
    """The error for a table whose header names no question/answer columns."""
    names = ", ".join(name for name in (cell_text(header) for header in found) if name) or "(nothing)"
    return DocumentParseError(
        f"The table has no question/answer columns: {EXPECTED_COLUMNS}; found: {names}."
    )


def cell_text(value: object) -> str:
    """A cell value as clean text: integral floats without ".0", dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, dt.date | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    return clean_text(text.replace("\r\n", "\n").replace("\r", "\n")).strip()


def rows_to_passages(
    rows: Iterable[tuple[Sequence[object], QAColumns | None]], *, unit: str = "row"
) -> list[Passage]:
    """One FAQ passage per row that has both a question and an answer.

    Rows come with their columns (JSON objects each have their own keys; None: unusable).
    They are numbered from 1 in the order given, blank ones included so numbers match the
    file; the number is the `source_ref` when the row has no id.
    """
    limit = get_settings().max_rows_per_document
    passages: list[Passage] = []
    counted = 0
    for number, (row, columns) in enumerate(rows, start=1):
        if not any(cell_text(cell) for cell in row):
            continue
        counted += 1
        if counted > limit:
            raise DocumentParseError(
                f"The file has more than {limit:,} {unit}s; the limit is {limit:,} {unit}s per document. "
                "Split it into smaller files."
            )
        passage = _faq_passage(row, columns, number) if columns is not None else None
        if passage is not None:
            passages.append(passage)
    if not passages:
        if counted == 0:
            raise DocumentParseError(f"The file has no {unit}s with content below the header.")
        raise DocumentParseError(f"None of the {counted:,} {unit}s has both a question and an answer.")
    return passages


def _faq_passage(row: Sequence[object], columns: QAColumns, number: int) -> Passage | None:
    question, answer = _cell(row, columns.question), _cell(row, columns.answer)
    if not question or not answer:
        return None
    metadata: dict[str, object] = {"kind": "faq", "question": question, "answer": answer}
    if columns.category is not None:
        metadata["category"] = _cell(row, columns.category)
    if columns.similar is not None:
        similar = wordings.from_cell(_cell(row, columns.similar), question)
        if similar:
            metadata["similar_questions"] = similar
    source_ref = (_cell(row, columns.id) if columns.id is not None else "") or str(number)
    return Passage(f"{question}\n{answer}", source_ref, metadata)


def _cell(row: Sequence[object], index: int) -> str:
    return cell_text(row[index]) if index < len(row) else ""
