"""Making a client-supplied file name safe to show, log and store."""

from __future__ import annotations

import re
import unicodedata

MAX_FILENAME_CHARS = 200
FALLBACK_FILENAME = "upload"

# Characters Windows forbids in names; replacing them keeps downloads working there.
_RESERVED = re.compile(r'[<>:"|?*]')
# Control, format (incl. bidi overrides that disguise "txt.exe"), surrogate and separator chars.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def safe_filename(filename: str) -> str:
    """The base name without directories, control characters or traversal; never empty.

    Unicode is kept ("中文.csv"), the result is at most 200 characters with the extension kept.
    """
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)
    name = _RESERVED.sub("_", name)
    name = " ".join(name.split())
    # Leading dots would make a hidden file (or "..") and trailing ones vanish on Windows.
    name = name.strip(" .")
    if not name:
        return FALLBACK_FILENAME
    return _truncate(name)


def file_extension(filename: str) -> str:
    """The lower-case extension with its dot (".csv"), or "" when the name has none."""
    name = safe_filename(filename)
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext or " " in ext:
        return ""
    return "." + ext.lower()


def _truncate(name: str) -> str:
    if len(name) <= MAX_FILENAME_CHARS:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and len(ext) <= 16:
        return stem[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
    return name[:MAX_FILENAME_CHARS]
