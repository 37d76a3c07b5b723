"""Turning uploaded bytes into text, whatever encoding a spreadsheet program or editor chose.

Chinese Windows tools still write GBK/GB18030 by default and Excel writes UTF-8 with a BOM or
UTF-16, so all of these must come out right; anything else must at least not crash.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from knowledge.parsing.passage import clean_text

# Longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes) -> str:
    """Decode bytes to NFC text without NULs; never raises, falls back to replacement chars."""
    return clean_text(_decode(data))


def looks_like_text(data: bytes) -> bool:
    """True if the start of `data` decodes to text with few control characters (NULs included)."""
    sample = _decode(data[:8192])
    if not sample.strip("\x00 \t\r\n"):
        return False
    controls = sum(1 for char in sample if char < " " and char not in "\t\n\r\f")
    return controls + sample.count("\ufffd") <= 0.05 * len(sample)


def _decode(data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    utf16 = _bomless_utf16(data)
    if utf16 is not None:
        return data.decode(utf16, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    chinese = _gb18030(data)
    if chinese is not None and _looks_chinese(chinese):
        return chinese
    best = from_bytes(data).best()
    # BOM-less UTF-16/32 was already ruled out above; the detector's guess of it is noise.
    if best is not None and not best.encoding.startswith("utf"):
        return str(best)
    return chinese if chinese is not None else data.decode("utf-8", errors="replace")


def _gb18030(data: bytes) -> str | None:
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        return None


def _looks_chinese(text: str, sample_chars: int = 20_000) -> bool:
    """True if most non-ASCII characters are common hanzi or CJK punctuation in GB2312.

    Statistical detectors misjudge short GBK files (a CSV header and one row); Western
    single-byte text decoded as GB18030 instead lands on rare characters or private use.
    """
    common = total = 0
    for char in text:
        if char < "\x80":
            continue
        total += 1
        encoded = char.encode("gb18030")
        if len(encoded) == 2 and (0xB0 <= encoded[0] <= 0xD7 or 0xA1 <= encoded[0] <= 0xA9):
            common += 1
        if total >= sample_chars:
            break
    return total > 0 and common >= 0.8 * total


def _bomless_utf16(data: bytes) -> str | None:
    """Guess UTF-16 without a BOM: mostly-ASCII text has a zero in every other byte."""
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even_zeros = sample[0::2].count(0)
    odd_zeros = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_zeros > 0.6 * half and even_zeros < 0.1 * half:
        return "utf-16-le"
    if even_zeros > 0.6 * half and odd_zeros < 0.1 * half:
        return "utf-16-be"
    return None
