"""PDF to one section per page (source_ref "p3"), cleaned (`pdf_cleanup`), with clear errors for PDFs without text."""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from core.errors import DocumentParseError
from core.settings import get_settings
from knowledge.parsing.pdf_cleanup import clean_pages
from knowledge.parsing.prose import Section

# Broken PDFs surface as whatever pypdf was doing when it tripped over them.
_DAMAGED_PDF_ERRORS = (
    PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError,
)  # fmt: skip
NO_TEXT_MESSAGE = (
    "The PDF contains no text: no text could be extracted (scanned PDF?). "
    "Run OCR on it or upload the text in another format."
)


def check_pdf_pages(data: bytes) -> None:
    """Refuse a PDF over `KEFU_MAX_PDF_PAGES` pages before anything reads its text.

    A few small files of thousands of near-empty pages (788 KB for 5,000) once kept a worker busy
    for minutes each; the page count is read from the PDF's page tree without extracting anything.
    A PDF too damaged to count is left to `parse_pdf`, which says what is wrong with it.
    """
    limit = get_settings().max_pdf_pages
    try:
        pages = len(PdfReader(io.BytesIO(data)).pages)
    except (*_DAMAGED_PDF_ERRORS, FileNotDecryptedError, DependencyError):
        return
    if pages > limit:
        raise DocumentParseError(f"The PDF has {pages:,} pages; the limit is {limit:,} pages per file. "
                                 "Split it into smaller files (or upload only the chapters customers ask about).")


def parse_pdf(data: bytes) -> list[Section]:
    """Text per page; raises `DocumentParseError` for encrypted, damaged or image-only PDFs."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentParseError(
                "The PDF is password-protected. Remove the password and upload it again."
            )
        texts = clean_pages([page.extract_text() or "" for page in reader.pages])
        sections = [Section(text, anchor=f"p{number}", page=number)
                    for number, text in enumerate(texts, start=1) if text.strip()]
    except DocumentParseError:
        raise
    except (FileNotDecryptedError, DependencyError) as exc:
        raise DocumentParseError(
            f"The PDF is encrypted and could not be opened ({exc}). "
            "Remove the protection and upload it again."
        ) from exc
    except _DAMAGED_PDF_ERRORS as exc:
        raise DocumentParseError(f"The PDF file is damaged or not a PDF file: {exc}.") from exc
    if not sections:
        raise DocumentParseError(NO_TEXT_MESSAGE)
    return sections
