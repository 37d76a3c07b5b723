"""Text extracted from PDF pages, made fit to show a customer.

PDF text layers carry artefacts a reader never sees on paper, and the bot would quote them:
- CJK text set with Kangxi radicals or compatibility ideographs (⽉⽇⼯ instead of 月日工) and Latin
  ligatures (ﬁ): folded with NFKC, but only for those characters, since NFKC would also turn
  Chinese full-width punctuation (，！？) into ASCII;
- words hyphenated across a line break ("ex-\\nample");
- running headers and footers repeated on every page, page numbers ("Page 3 of 12", "- 3 -", 第3页).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# Blocks whose characters NFKC folds into what a reader expects; everything else is left as written.
_FOLDED = re.compile(
    "[\u2e80-\u2eff"  # CJK radicals supplement
    "\u2f00-\u2fdf"  # Kangxi radicals
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\ufb00-\ufb06"  # Latin ligatures (ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ)
    "\U0002f800-\U0002fa1f]"  # CJK compatibility ideographs supplement
)
_HYPHENATED = re.compile(r"(?<=[a-z])-\n(?=[a-z])")
_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–—]\s*\d+\s*[-–—]|(?:page|p\.?)\s*\d+(?:\s*(?:of|/)\s*\d+)?|\d+\s*(?:/|of)\s*\d+|\d+|"
    r"第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?)\s*$",
    re.IGNORECASE,
)
# A line counts as a running header or footer when it opens or closes at least this share of pages.
_REPEATED_SHARE = 0.6
_MIN_PAGES = 3


def fold_compatibility_characters(text: str) -> str:
    return _FOLDED.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def clean_pages(pages: list[str]) -> list[str]:
    """Each page's text with folded characters, joined hyphenations, and no running headers, footers
    or page numbers."""
    pages = [_HYPHENATED.sub("", fold_compatibility_characters(page)) for page in pages]
    repeated = _running_lines(pages)
    return [_without_edges(page, repeated) for page in pages]


def _key(line: str) -> str:
    """Lines that differ only in their numbers (a page number, a date) are the same running line."""
    return _DIGITS.sub("#", " ".join(line.split()).lower())


def _edges(page: str) -> list[str]:
    """The first and last line of a page with a body between them (a page of one or two lines is all body)."""
    lines = [line for line in page.splitlines() if line.strip()]
    return [lines[0], lines[-1]] if len(lines) > 2 else []


def _running_lines(pages: list[str]) -> set[str]:
    if len(pages) < _MIN_PAGES:
        return set()
    seen = Counter(key for page in pages for key in {_key(line) for line in _edges(page)})
    return {key for key, count in seen.items() if count >= _REPEATED_SHARE * len(pages)}


def _without_edges(page: str, repeated: set[str]) -> str:
    lines = page.splitlines()
    body = [i for i, line in enumerate(lines) if line.strip()]
    edge = {body[0], body[-1]} if body else set()
    kept = [line for i, line in enumerate(lines)
            if i not in edge or not (_PAGE_NUMBER.match(line) or (len(body) > 2 and _key(line) in repeated))]
    return "\n".join(kept).strip()
