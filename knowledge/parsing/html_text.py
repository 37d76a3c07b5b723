"""HTML to heading-delimited sections of plain text, without scripts, styles or navigation."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from knowledge.parsing.encoding import decode_text
from knowledge.parsing.passage import clean_text
from knowledge.parsing.prose import Section, SectionBuilder

_DROPPED = frozenset({"script", "style", "nav", "noscript", "template", "svg", "iframe", "head", "select"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "dd", "details", "dialog", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "ol",
        "p", "pre", "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul", "br", "caption",
    }
)  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_CELLS = frozenset({"td", "th"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.IGNORECASE)


def decode_html(data: bytes) -> str:
    """Decode with the page's declared charset when it names a real one, else by detection."""
    match = _META_CHARSET.search(data[:4096])
    if match:
        declared = match.group(1).decode("ascii").lower()
        # Pages labelled GB2312/GBK routinely contain characters only GB18030 (a superset) has.
        encoding = "gb18030" if declared in ("gb2312", "gbk") else declared
        try:
            return clean_text(data.decode(encoding).removeprefix("\ufeff"))
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)


def parse_html(text: str) -> list[Section]:
    """Sections per h1–h6; table rows become "cell | cell" lines; all tags are dropped."""
    extractor = _TextExtractor()
    extractor.feed(text)
    extractor.close()
    return extractor.builder.build()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = SectionBuilder()
        self._skip_depth = 0
        self._heading_level: int | None = None
        self._buffer: list[str] = []
        self._cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            self._skip_depth += 1
        elif self._skip_depth:
            return
        elif tag in _HEADINGS:
            self._flush()
            self._heading_level = _HEADINGS[tag]
        elif tag == "tr":
            self._flush()
            self._cells = []
        elif tag in _CELLS:
            self._end_cell()
        elif tag in _BLOCKS:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._skip_depth and tag in _BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._skip_depth:
            return
        elif tag in _HEADINGS:
            title = "".join(self._buffer)
            self._buffer = []
            self._heading_level, level = None, self._heading_level or _HEADINGS[tag]
            self.builder.heading(level, title)
        elif tag in _CELLS:
            self._end_cell()
        elif tag == "tr":
            self._end_row()
        elif tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()

    def _end_cell(self) -> None:
        if self._cells is not None:
            cell = " ".join("".join(self._buffer).split())
            if cell:
                self._cells.append(cell)
            self._buffer = []

    def _end_row(self) -> None:
        self._end_cell()
        if self._cells:
            self.builder.paragraph(" | ".join(self._cells))
        self._cells = None

    def _flush(self) -> None:
        if self._cells is not None:
            self._end_row()
        if self._heading_level is not None:
            return
        text = "".join(self._buffer)
        self._buffer = []
        self.builder.paragraph(text)
