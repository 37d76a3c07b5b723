"""Exports for data staff: conversations, messages, feedback and daily metrics as CSV, Parquet or XLSX.

`iter_export` streams the file in chunks with bounded memory however large the tenant (how each
format manages that: `analytics.export_writers`). Everything runs in a tenant session as the app
role, so row-level security scopes every export.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from analytics import export_writers
from analytics.export_queries import DATASETS_BY_NAME
from analytics.period import Period
from core.db import tenant_session_sync
from core.errors import ValidationFailed

DATASETS = ("conversations", "messages", "feedback", "daily")
FORMATS = ("csv", "parquet", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv",  # the web layer adds "; charset=utf-8"
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header row


def check_request(dataset: str, fmt: str) -> None:
    """Refuse an unknown dataset or format with a message naming the valid choices."""
    if dataset not in DATASETS:
        raise ValidationFailed(f"Unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}.")
    if fmt not in FORMATS:
        raise ValidationFailed(f"Unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}.")


def export_filename(dataset: str, fmt: str, period: Period) -> str:
    return f"kefu-{dataset}-{period.start.isoformat()}_{period.end.isoformat()}.{fmt}"


def iter_export(tenant_id: uuid.UUID | str, dataset: str, fmt: str, period: Period,
                timezone: str | None = None) -> Iterator[bytes]:
    """The export file as a stream of byte chunks.

    Checks run before the stream is returned (bad dataset/format, too many rows for XLSX), so a
    caller can still answer with an error instead of a half-sent file. `timezone` (the tenant's, an
    IANA name; the period's zone by default) is the zone of the CSV and XLSX timestamp columns;
    Parquet keeps UTC instants. The period's days are days of the period's zone.
    """
    check_request(dataset, fmt)
    spec = DATASETS_BY_NAME[dataset]
    params = {"tenant_id": str(tenant_id), "lo": period.start_ts, "hi": period.end_ts, "start": period.start,
              "end": period.end, "timezone": timezone or period.zone}
    if fmt == "xlsx":
        with tenant_session_sync(tenant_id) as session:
            rows = int(session.scalar(text(spec.count_sql), params) or 0)
        if rows > XLSX_MAX_ROWS:
            raise ValidationFailed(f"{rows} rows do not fit in one XLSX sheet (at most {XLSX_MAX_ROWS}); "
                                   "export as CSV or Parquet, or choose a shorter period.")
    writer = {"csv": export_writers.csv_chunks, "parquet": export_writers.parquet_chunks,
              "xlsx": export_writers.xlsx_chunks}[fmt]
    return _started(writer(tenant_id, spec, params))


def _started(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Produce the first chunk now: a failure then surfaces as an error response, not an empty or cut file.

    (An XLSX workbook is complete before its first byte, so for XLSX this is the whole file.)
    """
    first = next(chunks, None)
    return chunks if first is None else itertools.chain((first,), chunks)


def write_export(tenant_id: uuid.UUID | str, dataset: str, fmt: str, period: Period, path: str | Path) -> int:
    """Write the export to `path` (complete or not at all); returns the number of bytes written."""
    chunks = iter_export(tenant_id, dataset, fmt, period)  # timestamps in the period's zone
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    written = 0
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return written
