"""Deciding which parser reads an upload: by extension, checked against the file's first bytes."""

from __future__ import annotations

import json

from core.errors import UnsupportedFormat
from knowledge.parsing.encoding import decode_text, looks_like_text
from knowledge.parsing.filenames import file_extension

SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".pdf": "pdf",
    ".docx": "docx",
    ".json": "json",
}

SUPPORTED_LIST = "CSV, XLSX, Markdown, HTML, TXT, PDF, DOCX, JSON"

_CONTENT_TYPES: dict[str, str] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/json": "json",
}

_ZIP_MAGIC = b"PK\x03\x04"
_PDF_MAGIC = b"%PDF"
# Binary containers a text format must never start with, named for the error message.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (_ZIP_MAGIC, "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (_PDF_MAGIC, "a PDF file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office (.doc/.xls) file"),
    (b"\x7fELF", "a program"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
)
_OLD_OFFICE_HINTS = {".xls": " Save it as .xlsx first.", ".doc": " Save it as .docx first."}
_TEXT_FORMATS = frozenset({"csv", "markdown", "html", "text", "json"})
_HTML_MARKERS = ("<!doctype html", "<html", "<body", "<head", "<p>", "<div", "<h1")


def detect_format(filename: str, data: bytes, content_type: str | None = None) -> str:
    """The format name ("csv", "pdf", ...) for an upload, or raise `UnsupportedFormat`."""
    ext = file_extension(filename)
    if ext:
        fmt = SUPPORTED_EXTENSIONS.get(ext)
        if fmt is None:
            raise UnsupportedFormat(
                f"Unsupported file type '{ext}'. Upload one of: {SUPPORTED_LIST}."
                + _OLD_OFFICE_HINTS.get(ext, "")
            )
        _check_magic(fmt, data, f"{ext} file")
        return fmt
    fmt = _format_without_extension(data, content_type)
    _check_magic(fmt, data, "file")
    return fmt


def _check_magic(fmt: str, data: bytes, label: str) -> None:
    """Refuse files whose content contradicts their name, before a parser gets confused by them."""
    if fmt == "pdf":
        if _PDF_MAGIC not in data[:1024]:
            raise UnsupportedFormat(f"The {label} is not a PDF (it does not start with %PDF).")
    elif fmt in ("xlsx", "docx"):
        if not data.startswith(_ZIP_MAGIC):
            kind = _binary_kind(data)
            found = f" (it looks like {kind})" if kind else ""
            raise UnsupportedFormat(f"The {label} is not a valid {fmt.upper()} file{found}.")
    else:
        kind = _binary_kind(data)
        if kind:
            raise UnsupportedFormat(f"The {label} is not a text file: it looks like {kind}.")


def _binary_kind(data: bytes) -> str | None:
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            return kind
    # "MZ" alone could start a sentence; an executable's header has NULs right after it.
    if data.startswith(b"MZ") and b"\x00" in data[2:64]:
        return "a Windows program"
    return None


def _format_without_extension(data: bytes, content_type: str | None) -> str:
    by_type = _CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower())
    if by_type is not None and (by_type in _TEXT_FORMATS or by_type == "pdf"):
        return by_type
    if data.startswith(_PDF_MAGIC):
        return "pdf"
    if _binary_kind(data) is None and looks_like_text(data):
        return _sniff_text(decode_text(data[:65536]), data)
    raise UnsupportedFormat(
        f"Unsupported file type (the file name has no extension). Upload one of: {SUPPORTED_LIST}."
    )


def _sniff_text(head: str, data: bytes) -> str:
    stripped = head.lstrip()
    if stripped[:1] in ("[", "{"):
        try:
            json.loads(decode_text(data))
        except (ValueError, RecursionError):
            pass
        else:
            return "json"
    if any(marker in stripped[:2048].lower() for marker in _HTML_MARKERS):
        return "html"
    return "text"
