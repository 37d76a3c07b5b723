"""Turning uploaded files into passages: format detection, upload checks, parsing and chunking.

The API calls `check_upload` before accepting a file; the ingest worker calls `parse_document`.
Both are pure functions of the bytes, so the same file always yields the same passages.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import EmptyUpload, PayloadTooLarge
from core.settings import get_settings
from knowledge.parsing.docx_text import parse_docx
from knowledge.parsing.encoding import decode_text
from knowledge.parsing.filenames import safe_filename
from knowledge.parsing.formats import SUPPORTED_EXTENSIONS, detect_format
from knowledge.parsing.html_text import decode_html, parse_html
from knowledge.parsing.json_faq import parse_json
from knowledge.parsing.markdown_text import parse_markdown
from knowledge.parsing.passage import Passage
from knowledge.parsing.pdf_text import check_pdf_pages, parse_pdf
from knowledge.parsing.prose import Section, parse_plain_text, sections_to_passages
from knowledge.parsing.tables import parse_csv, parse_xlsx

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Passage",
    "check_upload",
    "decode_text",
    "detect_format",
    "parse_document",
    "safe_filename",
]

_TABLE_PARSERS: dict[str, Callable[[bytes], list[Passage]]] = {
    "csv": parse_csv,
    "xlsx": parse_xlsx,
    "json": parse_json,
}
_PROSE_PARSERS: dict[str, Callable[[bytes], list[Section]]] = {
    "markdown": lambda data: parse_markdown(decode_text(data)),
    "html": lambda data: parse_html(decode_html(data)),
    "text": lambda data: parse_plain_text(decode_text(data)),
    "pdf": parse_pdf,
    "docx": parse_docx,
}


def check_upload(filename: str, data: bytes, content_type: str | None = None) -> str:
    """The cheap checks done before accepting an upload; returns the detected format."""
    if not data:
        raise EmptyUpload("The file is empty (0 bytes). Choose a file with content and upload it again.")
    limit = get_settings().max_upload_bytes
    if len(data) > limit:
        raise PayloadTooLarge(
            f"The file is {_megabytes(len(data))} MB; the limit is {_megabytes(limit)} MB per file.",
            extra={"limit_bytes": limit},
        )
    fmt = detect_format(filename, data, content_type)
    if fmt == "pdf":
        check_pdf_pages(data)
    return fmt


def parse_document(filename: str, data: bytes, content_type: str | None = None) -> list[Passage]:
    """Parse and chunk a document; raises `DocumentParseError` with a readable message on bad content."""
    fmt = check_upload(filename, data, content_type)
    if fmt in _TABLE_PARSERS:
        return _TABLE_PARSERS[fmt](data)
    sections = _PROSE_PARSERS[fmt](data)
    return sections_to_passages(sections, empty_message=f"The {fmt.upper()} file contains no text.")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")
