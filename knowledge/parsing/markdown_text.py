"""Markdown to heading-delimited sections of plain text (markup removed, structure kept)."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from knowledge.parsing.prose import Section, SectionBuilder

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def parse_markdown(text: str) -> list[Section]:
    """Sections per heading; tables become one "cell | cell" line per row."""
    # YAML front matter would otherwise parse as a setext heading.
    text = _FRONT_MATTER.sub("", text, count=1)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    builder = SectionBuilder()
    row: list[str] | None = None
    heading_level: int | None = None
    for token in tokens:
        if token.type == "heading_open":
            heading_level = int(token.tag[1:])
        elif token.type == "heading_close":
            heading_level = None
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            builder.paragraph(" | ".join(cell for cell in row if cell))
            row = None
        elif token.type == "inline":
            content = _inline_text(token)
            if heading_level is not None:
                builder.heading(heading_level, content)
            elif row is not None:
                row.append(content.strip())
            else:
                builder.paragraph(content)
        elif token.type in ("fence", "code_block"):
            builder.paragraph(token.content)
        elif token.type == "html_block":
            builder.paragraph(_TAG.sub(" ", token.content))
    return builder.build()


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)
