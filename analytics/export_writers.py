"""How each export format streams with bounded memory.

- CSV is PostgreSQL's own `COPY (query) TO STDOUT (FORMAT csv, HEADER)` output, passed on in
  chunks of `CHUNK_BYTES` — no per-value work in Python at all.
- Parquet reads that same COPY stream (without header, timestamps in plain UTC form) with
  pyarrow's streaming CSV reader into typed Arrow batches, and writes a row group every
  `ROW_GROUP_ROWS` rows; written bytes leave after every row group.
- XLSX uses openpyxl's write-only mode over a server-side cursor (rows go to a temporary file, then
  the finished workbook streams from disk — a zip needs its directory at the end). Text cells go
  through `analytics.spreadsheet_cells` (no formulas, nothing XML cannot hold).
COPY of a query runs as the app role inside the tenant's transaction, so row-level security
applies to it exactly as to the query.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import text

from analytics.export_queries import Dataset
from analytics.spreadsheet_cells import xlsx_row
from core.db import tenant_session_sync

CHUNK_BYTES = 256 * 1024
ROW_GROUP_ROWS = 50_000
XLSX_BATCH_ROWS = 5_000
_FILE_CHUNK = 1024 * 1024
_BIND = re.compile(r"(?<![:\w]):([a-z_]+)")
ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
               "ts": pa.timestamp("us", tz="UTC"), "date": pa.date32()}


def _copy_blocks(tenant_id: uuid.UUID | str, spec: Dataset, params: dict[str, Any], *, style: str,
                 header: bool) -> Iterator[bytes]:
    """The rows as CSV bytes, straight from PostgreSQL's COPY."""
    # COPY takes no server-side parameters: psycopg binds these client-side, safely quoted.
    zone = str(params.get("timezone") or "UTC") if style == "text" else "UTC"
    query = _BIND.sub(r"%(\1)s", spec.select(style, ordered=style != "arrow", local=zone != "UTC"))
    statement = f"COPY ({query}) TO STDOUT WITH (FORMAT csv{', HEADER' if header else ''})"
    with tenant_session_sync(tenant_id) as session:
        raw = session.connection().connection.driver_connection  # tenant already set on this transaction
        with raw.cursor() as cursor:
            # Timestamps leave in UTC, or for a CSV in the tenant's zone with its offset.
            cursor.execute("SELECT set_config('TimeZone', %s, true)", (zone,))
        with raw.cursor() as cursor, cursor.copy(statement, params) as copy:
            # COPY hands over one row at a time: pass on ~CHUNK_BYTES at once, not a million tiny blocks.
            pending: list[bytes] = []
            size = 0
            for row in copy:
                pending.append(row)
                size += len(row)
                if size >= CHUNK_BYTES:
                    yield b"".join(pending)
                    pending, size = [], 0
            if pending:
                yield b"".join(pending)


def csv_chunks(tenant_id: uuid.UUID | str, spec: Dataset, params: dict[str, Any]) -> Iterator[bytes]:
    return _copy_blocks(tenant_id, spec, params, style="text", header=True)


class _BlockReader(io.RawIOBase):
    """A readable file over an iterator of byte blocks (for pyarrow's CSV reader)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._block = memoryview(b"")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._block:
            try:
                self._block = memoryview(next(self._blocks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._block))
        buffer[:n] = self._block[:n]
        self._block = self._block[n:]
        self.bytes_read += n
        return n


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


def parquet_chunks(tenant_id: uuid.UUID | str, spec: Dataset, params: dict[str, Any]) -> Iterator[bytes]:
    schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in zip(spec.names, spec.kinds, strict=True)])
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in _arrow_batches(tenant_id, spec, params, schema):
        pending.append(batch)
        rows += batch.num_rows
        if rows >= ROW_GROUP_ROWS:
            table = pa.Table.from_batches(pending, schema=schema)
            full = rows - rows % ROW_GROUP_ROWS
            writer.write_table(table.slice(0, full), row_group_size=ROW_GROUP_ROWS)
            rest = table.slice(full)
            pending, rows = rest.to_batches(), rest.num_rows
            yield sink.take()
    if rows:
        writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=ROW_GROUP_ROWS)
    writer.close()
    yield sink.take()


def _arrow_batches(tenant_id: uuid.UUID | str, spec: Dataset, params: dict[str, Any],
                   schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    source = _BlockReader(_copy_blocks(tenant_id, spec, params, style="arrow", header=False))
    read_types = {name: ARROW_TYPES[kind] for name, kind in zip(spec.names, spec.kinds, strict=True)}
    try:
        reader = pacsv.open_csv(
            io.BufferedReader(source, buffer_size=_FILE_CHUNK),
            read_options=pacsv.ReadOptions(column_names=spec.names, block_size=2 * 1024 * 1024),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=read_types, true_values=["true"], false_values=["false"], null_values=[""],
                strings_can_be_null=True, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid:
        if source.bytes_read == 0:  # no rows at all: a file with the schema and no row groups
            return
        raise
    yield from reader


def _naive(value: datetime, zone: tzinfo) -> datetime:
    return value.astimezone(zone).replace(tzinfo=None) if value.tzinfo is not None else value


def xlsx_chunks(tenant_id: uuid.UUID | str, spec: Dataset, params: dict[str, Any]) -> Iterator[bytes]:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(spec.name)
    sheet.append(spec.names)
    with tenant_session_sync(tenant_id) as session:
        connection = session.connection().execution_options(yield_per=XLSX_BATCH_ROWS)  # server-side cursor
        zone = ZoneInfo(str(params.get("timezone") or "UTC"))
        for rows in connection.execute(text(spec.select("python")), params).partitions(XLSX_BATCH_ROWS):
            for row in rows:
                # Excel has no time zones: timestamps are written as naive times of the tenant's zone (UTC unless set).
                sheet.append(xlsx_row(sheet, [_naive(v, zone) if isinstance(v, datetime) else v for v in row]))
    fd, name = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        workbook.save(name)
        with open(name, "rb") as saved:
            while chunk := saved.read(_FILE_CHUNK):
                yield chunk
    finally:
        os.unlink(name)
