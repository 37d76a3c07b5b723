"""PDF to one section per page (source_ref "p3"), cleaned (`pdf_cleanup`), with clear errors for PDFs without text."""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from core.errors import DocumentParseError
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
