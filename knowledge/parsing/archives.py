"""Guarding zip-based formats (XLSX, DOCX) against zip bombs before a library opens them."""

from __future__ import annotations

import io
import zipfile

from core.errors import DocumentParseError
from core.settings import get_settings

MAX_COMPRESSION_RATIO = 200
# Small members may compress extremely well (an empty sheet, repeated styles) and are harmless.
RATIO_CHECK_MIN_BYTES = 10 * 1024 * 1024


def check_zip(data: bytes, kind: str) -> None:
    """Raise `DocumentParseError` if the archive is damaged or would decompress too far.

    Declared sizes are enough: CPython's `zipfile` stops reading a member at its declared size
    and then fails its CRC check, so a member cannot expand past what the header says.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise damaged(kind, exc) from exc
    limit = get_settings().max_decompressed_bytes
    total = sum(member.file_size for member in members)
    if total > limit:
        raise DocumentParseError(
            f"The {kind} file decompresses to more than {limit // (1024 * 1024)} MB, "
            "which looks like a zip bomb; split it into smaller files."
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise DocumentParseError(
                f"The {kind} file looks like a zip bomb: '{member.filename}' expands {ratio:.0f} times."
            )


def damaged(kind: str, exc: Exception) -> DocumentParseError:
    """The error for an archive a library could not read."""
    # Said letter by letter: "an XLSX", "a DOCX".
    article = "an" if kind[:1] in "AEFHILMNORSX" else "a"
    return DocumentParseError(f"The {kind} file is damaged or not {article} {kind} file: {exc}.")
