"""Cells a spreadsheet opens safely: no formula from customer text, no character XML cannot hold.

A visitor's message, a feedback comment or an FAQ answer is data. Spreadsheet programs treat a
cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or carriage return before one) as a
formula, so `=HYPERLINK("http://…?"&A1,"click me")` would run in the analyst's Excel (OWASP's
"CSV injection"). Exports therefore:
- CSV: prefix such a text cell with an apostrophe (what Excel itself shows for typed-in text);
- XLSX: write it as a string cell with Excel's quote-prefix flag, so the text is kept as it is and
  is never a formula;
- XLSX: replace characters XML 1.0 cannot hold (control characters, U+FFFE/U+FFFF, lone
  surrogates) with U+FFFD, since one of them made the whole workbook fail to write.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters outside XML 1.0's Char production.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FORMULA_SQL = r"E'^[-=+@\t\r]'"  # PostgreSQL regex for the same first characters


def csv_text(value: str) -> str:
    """A text cell for CSV: an apostrophe before a formula-leading value."""
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_text_sql(expr: str) -> str:
    """The same as `csv_text`, as SQL around a text expression (the CSV export is PostgreSQL's COPY)."""
    return f"(CASE WHEN ({expr}) ~ {_FORMULA_SQL} THEN '''' || ({expr}) ELSE ({expr}) END)"


def xml_text(value: str) -> str:
    """The text with every character XML cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", value)


def xlsx_row(sheet: Any, row: Any) -> list[Any]:
    """Values for openpyxl's write-only `sheet.append`: text made XML-safe, formula-leading text as plain text."""
    from openpyxl.cell import WriteOnlyCell

    out: list[Any] = []
    for value in row:
        if isinstance(value, str):
            value = xml_text(value)
            if value.startswith(FORMULA_START):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"  # openpyxl would otherwise store "=…" as a formula
                cell.quotePrefix = True
                value = cell
        out.append(value)
    return out
