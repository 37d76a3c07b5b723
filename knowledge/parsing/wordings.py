"""Similar questions as written in an upload's cell or an admin's field: split, tidied, within limits.

Pure text functions shared by the Q&A parsers and `knowledge.similar_questions`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.parsing.passage import clean_text

MAX_PER_ROW = 50
MAX_CHARS = 1000
_SEPARATORS = re.compile(r"[|｜\n]+")


def split(raw: object) -> list[str]:
    """The wordings in a cell or field: a list, or text separated by `|`, `｜` or new lines."""
    if raw is None:
        return []
    parts: Iterable[object] = raw if isinstance(raw, list | tuple) else _SEPARATORS.split(str(raw))
    return [text for text in (clean_text(str(p)).strip() for p in parts if p is not None) if text]


def tidy(phrasings: Iterable[str], question: str) -> list[str]:
    """Distinct wordings in their order, without the row's own question (case- and space-insensitive)."""
    seen = {key(question)}
    kept = []
    for phrasing in phrasings:
        compared = key(phrasing)
        if compared and compared not in seen:
            seen.add(compared)
            kept.append(" ".join(phrasing.split()))
    return kept


def from_cell(raw: object, question: str) -> list[str]:
    """An uploaded cell's wordings: tidied, overlong ones cut, at most `MAX_PER_ROW` (an upload is not refused)."""
    return [p[:MAX_CHARS] for p in tidy(split(raw), question)][:MAX_PER_ROW]


def key(text: str) -> str:
    """How wordings are compared: casefolded, spaces collapsed."""
    return " ".join(text.casefold().split())
