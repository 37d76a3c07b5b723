"""Exports for data staff: conversations, messages, feedback and daily metrics as CSV, Parquet or XLSX.

Rows stream from a server-side cursor in batches and leave as bytes batch by batch, so memory
stays bounded however large the tenant: CSV writes each batch as text, Parquet writes each batch
as a row group, XLSX uses openpyxl's write-only mode (rows go to a temporary file, then the
finished workbook streams from disk — a zip needs its directory at the end). Everything runs in a
tenant session as the app role, so row-level security scopes every export.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import text

from analytics.export_queries import DATASETS_BY_NAME, Dataset
from analytics.period import Period
from core.db import sync_tenant_session
from core.errors import ValidationFailed

DATASETS = ("conversations", "messages", "feedback", "daily")
FORMATS = ("csv", "parquet", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv",  # the web layer adds "; charset=utf-8"
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
BATCH_ROWS = 20_000
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header row
_FILE_CHUNK = 1024 * 1024
_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
                "ts": pa.timestamp("us", tz="UTC"), "date": pa.date32()}


def check_request(dataset: str, fmt: str) -> None:
    """Refuse an unknown dataset or format with a message naming the valid choices."""
    if dataset not in DATASETS:
        raise ValidationFailed(f"Unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}.")
    if fmt not in FORMATS:
        raise ValidationFailed(f"Unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}.")


def export_filename(dataset: str, fmt: str, period: Period) -> str:
    return f"kefu-{dataset}-{period.start.isoformat()}_{period.end.isoformat()}.{fmt}"


def iter_export(tenant_id: uuid.UUID | str, dataset: str, fmt: str, period: Period) -> Iterator[bytes]:
    """The export file as a stream of byte chunks.

    Checks run before the stream is returned (bad dataset/format, too many rows for XLSX), so a
    caller can still answer with an error instead of a half-sent file.
    """
    check_request(dataset, fmt)
    spec = DATASETS_BY_NAME[dataset]
    params = _params(tenant_id, period)
    if fmt == "xlsx":
        with sync_tenant_session(tenant_id) as session:
            rows = int(session.scalar(text(spec.count_sql), params) or 0)
        if rows > XLSX_MAX_ROWS:
            raise ValidationFailed(f"{rows} rows do not fit in one XLSX sheet (at most {XLSX_MAX_ROWS}); "
                                   "export as CSV or Parquet, or choose a shorter period.")
    writer = {"csv": _csv, "parquet": _parquet, "xlsx": _xlsx}[fmt]
    return writer(spec, _batches(tenant_id, spec, params))


def write_export(tenant_id: uuid.UUID | str, dataset: str, fmt: str, period: Period, path: str | Path) -> int:
    """Write the export to `path` (complete or not at all); returns the number of bytes written."""
    chunks = iter_export(tenant_id, dataset, fmt, period)
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


def _params(tenant_id: uuid.UUID | str, period: Period) -> dict[str, Any]:
    return {"tenant_id": str(tenant_id), "lo": period.start_ts, "hi": period.end_ts, "start": period.start,
            "end": period.end}


def _batches(tenant_id: uuid.UUID | str, spec: Dataset, params: dict[str, Any]) -> Iterator[Sequence[Any]]:
    """Rows in batches from a server-side cursor (psycopg named cursor via `yield_per`)."""
    with sync_tenant_session(tenant_id) as session:
        connection = session.connection().execution_options(yield_per=BATCH_ROWS)
        result = connection.execute(text(spec.sql), params)
        yield from result.partitions(BATCH_ROWS)


def _csv(spec: Dataset, batches: Iterator[Sequence[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(spec.names)
    for rows in batches:
        writer.writerows(_csv_row(row) for row in rows)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _csv_row(row: Sequence[Any]) -> list[Any]:
    return [value.isoformat() if isinstance(value, datetime) else value for value in row]


class _Drain(io.RawIOBase):
    """A write-only file that hands over what was written since the last `take()`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _parquet(spec: Dataset, batches: Iterator[Sequence[Any]]) -> Iterator[bytes]:
    schema = pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in spec.columns])
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    for rows in batches:
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(column, type=field.type) for column, field in zip(columns, schema, strict=True)]
        writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
        if data := sink.take():
            yield data
    writer.close()
    yield sink.take()


def _xlsx(spec: Dataset, batches: Iterator[Sequence[Any]]) -> Iterator[bytes]:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(spec.name)
    sheet.append(spec.names)
    for rows in batches:
        for row in rows:
            # Excel has no time zones: timestamps are written as naive UTC.
            sheet.append([v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row])
    fd, name = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        workbook.save(name)
        with open(name, "rb") as saved:
            while chunk := saved.read(_FILE_CHUNK):
                yield chunk
    finally:
        os.unlink(name)
