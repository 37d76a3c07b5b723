"""Prose documents as heading-delimited sections, and sections as chunked passages.

Markdown, HTML and DOCX parsers feed a `SectionBuilder`; PDF pages and plain text become
sections directly. Chunking happens per section, so a chunk never spans two sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import DocumentParseError
from core.settings import get_settings
from knowledge.chunking import chunk_text
from knowledge.parsing.passage import Passage, clean_text

_NOT_SLUG = re.compile(r"[^\w\- ]+")


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path (or one PDF page)."""

    text: str
    heading_path: tuple[str, ...] = ()
    anchor: str | None = None
    page: int | None = None


class SectionBuilder:
    """Collects headings and paragraphs in document order into `Section`s."""

    def __init__(self) -> None:
        self._sections: list[Section] = []
        self._stack: list[tuple[int, str]] = []
        self._anchor: str | None = None
        self._paragraphs: list[str] = []
        self._has_body = False
        self._anchors_seen: dict[str, int] = {}

    def heading(self, level: int, title: str) -> None:
        """Start a new section; deeper headings nest under shallower ones."""
        title = " ".join(clean_text(title).split())
        if not title:
            return
        self._flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))
        self._anchor = self._unique_anchor(title)
        self._paragraphs = [title]

    def paragraph(self, text: str) -> None:
        """Add body text to the current section."""
        text = clean_text(text).strip()
        if text:
            self._paragraphs.append(text)
            self._has_body = True

    def build(self) -> list[Section]:
        """All sections with body text; heading-only sections carry no knowledge and are dropped."""
        self._flush()
        return list(self._sections)

    def _flush(self) -> None:
        if self._has_body:
            path = tuple(title for _, title in self._stack)
            self._sections.append(Section("\n\n".join(self._paragraphs), path, self._anchor))
        self._paragraphs = []
        self._has_body = False

    def _unique_anchor(self, title: str) -> str:
        # GitHub-style anchors, so links into rendered Markdown resolve to the same section.
        slug = _NOT_SLUG.sub("", title.lower()).strip().replace(" ", "-") or "section"
        count = self._anchors_seen.get(slug, 0)
        self._anchors_seen[slug] = count + 1
        return f"#{slug}" if count == 0 else f"#{slug}-{count}"


def sections_to_passages(sections: list[Section], *, empty_message: str) -> list[Passage]:
    """Chunk every section with the configured sizes; raise if the document held no text."""
    settings = get_settings()
    passages = []
    for section in sections:
        metadata: dict[str, object] = {"kind": "passage"}
        if section.heading_path:
            metadata["heading"] = " > ".join(section.heading_path)
        if section.page is not None:
            metadata["page"] = section.page
        text = clean_text(section.text)
        for chunk in chunk_text(text, settings.chunk_max_chars, settings.chunk_overlap_chars):
            passages.append(Passage(chunk, section.anchor, dict(metadata)))
    if not passages:
        raise DocumentParseError(empty_message)
    return passages


def parse_plain_text(text: str) -> list[Section]:
    """Plain text is one section; the chunker splits it on paragraphs."""
    return [Section(clean_text(text))]
