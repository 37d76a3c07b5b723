"""DOCX to heading-delimited sections: heading styles give structure, tables give rows."""

from __future__ import annotations

import io
import re

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from knowledge.parsing.archives import check_zip, damaged
from knowledge.parsing.prose import Section, SectionBuilder

# Word stores built-in style names in English; Chinese templates sometimes use their own.
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.IGNORECASE)


def parse_docx(data: bytes) -> list[Section]:
    """Body paragraphs and tables in document order; headers, footers and images are skipped."""
    check_zip(data, "DOCX")
    try:
        document = docx.Document(io.BytesIO(data))
        builder = SectionBuilder()
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                level = _heading_level(block)
                if level is None:
                    builder.paragraph(block.text)
                else:
                    builder.heading(level, block.text)
            elif isinstance(block, Table):
                for row in _table_rows(block):
                    builder.paragraph(row)
    except Exception as exc:  # python-docx raises anything from KeyError to lxml errors on bad input
        raise damaged("DOCX", exc) from exc
    return builder.build()


def _heading_level(paragraph: Paragraph) -> int | None:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(name.strip())
    return int(match.group(1)) if match else None


def _table_rows(table: Table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            # Merged cells are returned once per grid column they span.
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows
