"""CSV and XLSX Q&A tables: locating the header row, then one passage per data row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from itertools import chain, islice

import openpyxl  # type: ignore[import-untyped]

from core.errors import DocumentParseError
from knowledge.parsing.archives import check_zip, damaged
from knowledge.parsing.encoding import decode_text
from knowledge.parsing.passage import Passage
from knowledge.parsing.qa import QAColumns, cell_text, match_columns, missing_columns_error, rows_to_passages

# Exports often start with a title, a date or a blank line before the real header.
HEADER_SEARCH_ROWS = 10
_DELIMITERS = (",", ";", "\t", "|")


def parse_csv(data: bytes) -> list[Passage]:
    """A CSV Q&A table in any common encoding, delimited by comma, semicolon, tab or pipe."""
    text = decode_text(data)
    for delimiter in _DELIMITERS:
        head = _read_csv(text, delimiter, limit=HEADER_SEARCH_ROWS)
        found = _find_header(head)
        if found is not None:
            header_index, columns = found
            rows = islice(_iter_csv(text, delimiter), header_index + 1, None)
            return rows_to_passages((row, columns) for row in rows)
    # Report the header as split by the delimiter that best explains it.
    heads = [_read_csv(text, delimiter, limit=HEADER_SEARCH_ROWS) for delimiter in _DELIMITERS]
    best = max(heads, key=lambda rows: len(_first_nonblank(rows)))
    raise missing_columns_error(_first_nonblank(best))


def parse_xlsx(data: bytes) -> list[Passage]:
    """The first sheet with Q&A columns; its header may be anywhere in the first 10 rows."""
    check_zip(data, "XLSX")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl surfaces bad input as KeyError, lxml, zip or value errors
        raise damaged("XLSX", exc) from exc
    try:
        first_header: Sequence[object] = ()
        for sheet in workbook.worksheets:
            rows = sheet.iter_rows(values_only=True)
            head = list(islice(rows, HEADER_SEARCH_ROWS))
            found = _find_header(head)
            if found is not None:
                header_index, columns = found
                return rows_to_passages((row, columns) for row in chain(head[header_index + 1 :], rows))
            first_header = first_header or _first_nonblank(head)
        raise missing_columns_error(first_header)
    except DocumentParseError:
        raise
    except Exception as exc:  # sheet XML is streamed, so damage can surface mid-read
        raise damaged("XLSX", exc) from exc
    finally:
        workbook.close()


def _find_header(rows: Sequence[Sequence[object]]) -> tuple[int, QAColumns] | None:
    for index, row in enumerate(rows):
        columns = match_columns(row)
        if columns is not None:
            return index, columns
    return None


def _first_nonblank(rows: Sequence[Sequence[object]]) -> Sequence[object]:
    return next((row for row in rows if any(cell_text(cell) for cell in row)), ())


def _read_csv(text: str, delimiter: str, *, limit: int) -> list[list[str]]:
    return list(islice(_iter_csv(text, delimiter), limit))


def _iter_csv(text: str, delimiter: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        raise DocumentParseError(f"The CSV file could not be read at line {reader.line_num}: {exc}.") from exc
