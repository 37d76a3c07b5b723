"""Records from a spreadsheet: the first sheet of an XLSX file, its first non-empty row as header.

Cells become what a CSV export of the sheet would hold, so a record looks the same whichever way
it was uploaded: whole numbers without ".0", dates as ISO text, empty cells as "".
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime, time

import openpyxl  # type: ignore[import-untyped]

from core.errors import EmptyUpload, ValidationFailed
from knowledge.parsing.archives import check_zip


def read_xlsx(data: bytes) -> tuple[list[str], Iterator[list[str]]]:
    """Header cells of the first sheet and an iterator of its non-empty rows, as wide as the header."""
    check_zip(data, "XLSX")  # refuses damaged archives and zip bombs before openpyxl opens it
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = next((row for row in rows if any(_cell(c) for c in row)), None)
    except Exception as exc:  # openpyxl reports bad input as KeyError, lxml, zip or value errors
        raise ValidationFailed(
            f"The XLSX file could not be read ({exc}). Open it in a spreadsheet, "
            "save it again as .xlsx (or CSV) and upload that."
        ) from exc
    if header is None:
        raise EmptyUpload("The spreadsheet's first sheet is empty: put a header row and records on it.")
    width = max(i for i, c in enumerate(header, start=1) if _cell(c))
    names = [_cell(c) for c in header[:width]]

    def records() -> Iterator[list[str]]:
        try:
            for row in rows:
                cells = [_cell(c) for c in row[:width]]
                if any(cells):
                    yield cells + [""] * (width - len(cells))
        except Exception as exc:  # sheet XML is streamed, so damage can surface mid-read
            raise ValidationFailed(f"The XLSX file is damaged part-way through ({exc}); save it again.") from exc
        finally:
            workbook.close()

    return names, records()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).replace("\x00", "").strip()
