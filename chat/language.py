"""Which language the customer writes in (Chinese or English; others answered in English)."""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str) -> str:
    """'zh' when Han characters make up a meaningful share of the letters, else 'en'."""
    han = len(_HAN.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    if han == 0:
        return "en"
    # Chinese sentences often carry Latin product names or order ids; count words, not letters.
    return "zh" if han >= latin_words else "en"


def reply_language(configured: str, customer_text: str) -> str:
    return detect_language(customer_text) if configured == "auto" else configured
