"""The unit every parser produces: a piece of text to embed, with where it came from."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Passage:
    """One indexable entry: a Q&A row or a chunk of prose.

    `text` is what gets embedded and indexed (for a Q&A row `f"{question}\\n{answer}"`).
    `source_ref` points back into the original: the row's id (or 1-based data row number),
    a PDF page ("p3"), a heading anchor, or None.
    """

    text: str
    source_ref: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def clean_text(text: str) -> str:
    """Drop NUL characters and normalise to NFC so equal-looking text hashes equally."""
    return unicodedata.normalize("NFC", text.replace("\x00", ""))
