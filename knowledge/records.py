"""The tenant's structured data (orders, bookings…): import CSV/JSON collections, look records up.

A collection is replaced as a whole on every import: the file is parsed and checked completely
*before* any database work (`parse_records`), then the old rows are deleted and the new ones bulk
inserted in the caller's transaction (`store_records`), so bad input never leaves a half-replaced
collection. Functions take a tenant-scoped synchronous `Session` first, like `knowledge.documents`.

Who may read a record through the chat is the collection's `access` (core.models.records): the
verified user named in its owner column, any visitor (public), or no visitor (private, the default
for a collection without an owner column that was not marked public). Sensitive columns are
masked in every chat answer. `lookup_for_visitor` answers a visitor the same way, with the same
work, whether a key does not exist or belongs to someone else.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from core.errors import EmptyUpload, NotFound, PayloadTooLarge, UnsupportedFormat, ValidationFailed
from core.models import RECORD_ACCESS, Record, RecordCollection
from core.settings import get_settings
from knowledge.parsing.encoding import decode_text, looks_like_text
from knowledge.parsing.filenames import file_extension
from knowledge.parsing.formats import detect_format
from knowledge.record_sheets import read_xlsx

COLLECTION_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,63}$")
MAX_ROWS = 200_000
MAX_COLUMNS = 500
MAX_COLUMN_NAME_CHARS = 200
# A btree index entry must fit in a third of a page; keys this long are never real identifiers.
MAX_KEY_CHARS = 1000
INSERT_BATCH = 5000
_DELIMITERS = (",", ";", "\t", "|")
_JSON_LIST_KEYS = ("items", "data", "records")
# One statement and one parameter per batch rather than a round trip per row (executemany of
# single-row INSERTs); COPY is not an option because row-level security refuses COPY FROM.
_INSERT_BATCH = text(
    "INSERT INTO records (tenant_id, collection_id, key, data) "
    "SELECT :tenant_id, :collection_id, r.k, r.d "
    "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(k text, d jsonb)"
)
_SPREADSHEET_HINT = {".xls": " Save the sheet as .xlsx or CSV first.", ".ods": " Save the sheet as .xlsx or CSV first."}
MASK = "***"


@dataclass(frozen=True)
class ParsedRecords:
    """A checked import: column names in file order and one row per distinct key (last one wins)."""

    key_column: str
    columns: list[str]
    rows: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class AccessChange:
    """Who may read a collection's records in the chat; a field left None keeps the stored value.

    `owner_column` "" removes the owner column; `public` applies to a collection without one.
    """

    owner_column: str | None = None
    sensitive_columns: list[str] | None = None
    public: bool | None = None

    @property
    def empty(self) -> bool:
        return self.owner_column is None and self.sensitive_columns is None and self.public is None


@dataclass(frozen=True)
class VisitorLookup:
    """What a chat visitor may learn of a record: found (masked), not found, or sign in first."""

    status: str  # found | not_found | sign_in | unavailable
    record: dict[str, Any] | None = None


def check_collection_name(name: str) -> str:
    """Return `name` if it is a valid collection name, else raise `ValidationFailed` with the rule."""
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
        raise ValidationFailed(
            f"Invalid collection name {name!r}: use 1-64 characters of lower-case letters, digits, "
            "'_' or '-', not starting with '-'."
        )
    return name


def import_records(
    session: Session, tenant_id: uuid.UUID, collection: str, filename: str, data: bytes, key_column: str,
    access: AccessChange | None = None,
) -> RecordCollection:
    """Parse a CSV/JSON file and replace the collection's rows with it, atomically."""
    check_collection_name(collection)
    return store_records(session, tenant_id, collection, parse_records(filename, data, key_column), access)


def parse_records(filename: str, data: bytes, key_column: str) -> ParsedRecords:
    """Read and check a whole CSV, XLSX or JSON upload without touching the database."""
    if not data:
        raise EmptyUpload("The file is empty (0 bytes). Choose a file with content and upload it again.")
    limit = get_settings().max_upload_bytes
    if len(data) > limit:
        raise PayloadTooLarge(
            f"The file is {len(data)} bytes; the limit is {limit} bytes.", extra={"limit_bytes": limit}
        )
    key_column = (key_column or "").strip()
    if not key_column:
        raise ValidationFailed("key_column is required: name the column that identifies a record.")
    fmt = _detect_format(filename, data)
    if fmt == "xlsx":
        columns, items = _read_sheet(data)
    else:
        text = decode_text(data)
        columns, items = _read_json(text) if fmt == "json" else _read_csv(text, key_column)
    key_column = _resolve_key_column(columns, key_column)
    rows: dict[str, dict[str, Any]] = {}
    for count, item in enumerate(items, start=1):
        if count > MAX_ROWS:
            raise PayloadTooLarge(f"The file has more than {MAX_ROWS:,} rows; the limit is {MAX_ROWS:,}.")
        key = _key_text(item.get(key_column))
        if not key:
            continue
        if len(key) > MAX_KEY_CHARS:
            raise ValidationFailed(f"Row {count}: the key is longer than {MAX_KEY_CHARS} characters.")
        rows.pop(key, None)  # a later duplicate wins and takes the later position
        rows[key] = item
    if not rows:
        raise EmptyUpload(f"No rows have a value in the key column '{key_column}'.")
    return ParsedRecords(key_column, columns, rows)


@dataclass(frozen=True)
class RecordPreview:
    """What an import would store: its key column, columns, first rows and row count."""

    key_column: str
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int


def preview_records(filename: str, data: bytes, key_column: str | None, limit: int = 10) -> RecordPreview:
    """Parse and check an upload as `import_records` would, without storing it.

    Without a key column, the column that looks most like one (an id, an order number) is used.
    """
    if not (key_column or "").strip() and data:
        key_column = _likely_key(_file_columns(filename, data))
    parsed = parse_records(filename, data, key_column or "")
    return RecordPreview(parsed.key_column, parsed.columns, list(islice(parsed.rows.values(), limit)),
                         len(parsed.rows))


_KEY_NAMES = ("order_id", "order id", "order", "order_no", "订单号", "订单编号", "id", "key", "编号")


def _likely_key(columns: list[str]) -> str:
    folded = {c.casefold().strip(): c for c in columns}
    named = next((folded[n] for n in _KEY_NAMES if n in folded), None)
    first = columns[0] if columns else ""
    return named or next((c for c in columns if c.casefold().endswith(("_id", " id", "号"))), first)


def _file_columns(filename: str, data: bytes) -> list[str]:
    fmt = _detect_format(filename, data)
    if fmt == "xlsx":
        return _read_sheet(data)[0]
    text = decode_text(data)
    return (_read_json(text) if fmt == "json" else _read_csv(text, ""))[0]


def sample_records(session: Session, tenant_id: uuid.UUID, collection: str, limit: int = 20) -> list[dict[str, Any]]:
    """The first `limit` records of a collection, in file order and with the file's column order (for admins)."""
    found = session.scalars(select(RecordCollection).where(
        RecordCollection.tenant_id == tenant_id, RecordCollection.name == collection)).first()
    if found is None:
        raise NotFound(f"No record collection '{collection}' in this tenant.")
    rows = session.scalars(select(Record.data).where(Record.tenant_id == tenant_id, Record.collection_id == found.id)
                           .order_by(Record.id).limit(limit))
    # jsonb keeps keys in its own order (shortest first); the file's order is what the admin knows.
    return [{**{c: row[c] for c in found.columns if c in row}, **row} for row in rows]


def store_records(
    session: Session, tenant_id: uuid.UUID, collection: str, parsed: ParsedRecords,
    access: AccessChange | None = None,
) -> RecordCollection:
    """Replace the collection's rows with `parsed` in the session's transaction; creates it if new.

    The collection's access rules are kept unless `access` changes them; they must still name
    columns of the new file (checked before any row is written).
    """
    check_collection_name(collection)
    existing = session.scalars(
        select(RecordCollection).where(RecordCollection.tenant_id == tenant_id, RecordCollection.name == collection)
    ).first()
    rules = resolve_access(parsed.columns, parsed.key_column, existing, access or AccessChange())
    # ON CONFLICT makes two concurrent first imports of one name converge instead of failing.
    session.execute(
        pg_insert(RecordCollection)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, name=collection, key_column=parsed.key_column)
        .on_conflict_do_nothing(index_elements=["tenant_id", "name"])
    )
    target = session.scalars(
        select(RecordCollection)
        .where(RecordCollection.tenant_id == tenant_id, RecordCollection.name == collection)
        .with_for_update()
    ).one()
    session.execute(delete(Record).where(Record.tenant_id == tenant_id, Record.collection_id == target.id))
    rows = iter(parsed.rows.items())
    while batch := list(islice(rows, INSERT_BATCH)):
        payload = json.dumps([{"k": key, "d": data} for key, data in batch], ensure_ascii=False)
        session.execute(_INSERT_BATCH, {"tenant_id": tenant_id, "collection_id": target.id, "rows": payload})
    target.key_column = parsed.key_column
    target.owner_column, target.sensitive_columns, target.access = rules
    target.columns = list(parsed.columns)
    target.row_count = len(parsed.rows)
    target.updated_at = datetime.now(UTC)
    session.flush()
    return target


def resolve_access(columns: list[str], key_column: str, existing: RecordCollection | None,
                   change: AccessChange) -> tuple[str | None, list[str], str]:
    """(owner column, sensitive columns, access) after `change`, checked against the file's columns."""
    owner = existing.owner_column if existing is not None else None
    sensitive = list(existing.sensitive_columns) if existing is not None else []
    public = existing is not None and existing.access == "public"
    if change.owner_column is not None:
        owner = _resolve_column(columns, change.owner_column, "owner_column") if change.owner_column.strip() else None
        if owner is not None and change.public:
            raise ValidationFailed("A collection with an owner column is read only by its owners; "
                                   "leave public unset (or false) when you give owner_column.")
    if change.public is not None:
        public = change.public
        if public and change.owner_column is None:
            owner = None  # marking a collection public replaces its owner column
    if change.sensitive_columns is not None:
        sensitive = list(dict.fromkeys(_resolve_column(columns, c, "sensitive_columns")
                                       for c in change.sensitive_columns if c.strip()))
        if key_column in sensitive:
            raise ValidationFailed(f"The key column '{key_column}' cannot be sensitive: visitors ask by it.")
    missing = [c for c in ([owner] if owner else []) + sensitive if c not in columns]
    if missing:
        raise ValidationFailed(f"The file has no column {', '.join(repr(c) for c in missing)}, which the "
                               "collection's access rules name; give owner_column and sensitive_columns again.")
    access = "owner" if owner else "public" if public else "private"
    assert access in RECORD_ACCESS
    return owner, sensitive, access


def change_access(session: Session, tenant_id: uuid.UUID, collection: str, change: AccessChange) -> RecordCollection:
    """Change who may read a collection in the chat, without re-uploading it."""
    target = session.scalars(
        select(RecordCollection)
        .where(RecordCollection.tenant_id == tenant_id, RecordCollection.name == collection)
        .with_for_update()
    ).first()
    if target is None:
        raise NotFound(f"No record collection '{collection}' in this tenant.")
    target.owner_column, target.sensitive_columns, target.access = resolve_access(
        list(target.columns), target.key_column, target, change)
    target.updated_at = datetime.now(UTC)
    session.flush()
    return target


def _key_query(tenant_id: uuid.UUID, name: str, wanted: str) -> Any:
    """One statement for exact and case-insensitive matches (exact first), on the lower(key) index."""
    return (
        select(Record.data)
        .join(RecordCollection, RecordCollection.id == Record.collection_id)
        .where(
            RecordCollection.tenant_id == tenant_id,
            RecordCollection.name == name,
            Record.tenant_id == tenant_id,
            func.lower(Record.key) == func.lower(wanted),
        )
        .order_by((Record.key == wanted).desc(), Record.id)
        .limit(1)
    )


def _wanted(collection: str, key: str) -> tuple[str, str] | None:
    name = str(collection or "").strip().lower()
    wanted = _key_text(key)
    if not wanted or len(wanted) > MAX_KEY_CHARS or not COLLECTION_NAME.fullmatch(name):
        return None
    return name, wanted


def lookup_record(session: Session, tenant_id: uuid.UUID, collection: str, key: str) -> dict[str, Any] | None:
    """The record whose key equals `key` (trimmed), else a case-insensitive match, else None (admins)."""
    asked = _wanted(collection, key)
    return session.scalars(_key_query(tenant_id, *asked)).first() if asked else None


def lookup_for_visitor(session: Session, tenant_id: uuid.UUID, collection: RecordCollection | Any, key: str,
                       user_id: str | None) -> VisitorLookup:
    """A record as a chat visitor may see it.

    An owner collection answers only the verified user named in the owner column: without a user
    it asks them to sign in before any database work, and for a user the owner is part of the
    query, so a key that does not exist and one of another customer's cost the same and read the
    same. Sensitive columns are masked.
    """
    asked = _wanted(collection.name, key)
    if collection.access == "private":
        return VisitorLookup("unavailable")
    if collection.access == "owner" and user_id is None:
        return VisitorLookup("sign_in")
    if asked is None:
        return VisitorLookup("not_found")
    query = _key_query(tenant_id, *asked)
    if collection.access == "owner":
        query = query.where(func.btrim(Record.data[collection.owner_column].astext) == user_id)
    found = session.scalars(query).first()
    if found is None:
        return VisitorLookup("not_found")
    return VisitorLookup("found", mask(found, collection.sensitive_columns))


def mask(record: dict[str, Any], sensitive: list[str]) -> dict[str, Any]:
    """The record with each non-empty sensitive value replaced by a mask."""
    hidden = set(sensitive)
    return {k: (MASK if k in hidden and v not in (None, "") else v) for k, v in record.items()}


def list_collections(session: Session, tenant_id: uuid.UUID) -> list[RecordCollection]:
    """The tenant's collections, by name."""
    return list(
        session.scalars(
            select(RecordCollection)
            .where(RecordCollection.tenant_id == tenant_id)
            .order_by(RecordCollection.name)
        )
    )


def delete_collection(session: Session, tenant_id: uuid.UUID, collection: str) -> None:
    """Delete a collection and (by cascade) its records; `NotFound` if the tenant has none by that name."""
    deleted = session.execute(
        delete(RecordCollection)
        .where(RecordCollection.tenant_id == tenant_id, RecordCollection.name == collection)
        .returning(RecordCollection.id)
    ).first()
    if deleted is None:
        raise NotFound(f"No record collection '{collection}' in this tenant.")


def _detect_format(filename: str, data: bytes) -> str:
    ext = file_extension(filename or "")
    if ext and ext not in (".csv", ".tsv", ".txt", ".json", ".xlsx"):
        raise UnsupportedFormat(
            f"Unsupported file type '{ext}' for records. Upload a CSV, XLSX or JSON file."
            + _SPREADSHEET_HINT.get(ext, "")
        )
    if ext == ".xlsx":
        detect_format(filename, data)  # an .xlsx name on something that is not a zip is refused
        return "xlsx"
    # The shared detector refuses binary containers (ZIP, PDF, images...) by their magic bytes.
    detect_format("records.csv" if ext == ".tsv" else filename, data)
    if not looks_like_text(data):
        raise UnsupportedFormat("The file is not text. Upload records as a CSV or JSON file.")
    if ext:
        return "json" if ext == ".json" else "csv"
    head = decode_text(data[:1024]).lstrip()
    return "json" if head.startswith(("[", "{")) else "csv"


def _read_sheet(data: bytes) -> tuple[list[str], Iterator[dict[str, Any]]]:
    header, rows = read_xlsx(data)
    columns = _column_names(header)  # blank or repeated headers get names, as in a CSV
    return columns, (dict(zip(columns, row, strict=True)) for row in rows)


def _read_csv(text: str, key_column: str) -> tuple[list[str], Iterator[dict[str, Any]]]:
    delimiter = _sniff_delimiter(text, key_column)
    reader = _iter_csv(text, delimiter)
    header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    if header is None:
        raise EmptyUpload("The CSV file has no header row.")
    columns = _column_names(header)

    def rows() -> Iterator[dict[str, Any]]:
        for row in reader:
            if any(cell.strip() for cell in row):
                # Cells beyond the header have no name and are dropped; short rows get "".
                cells = [cell.strip() for cell in row[: len(columns)]]
                yield dict(zip(columns, cells + [""] * (len(columns) - len(cells)), strict=True))

    return columns, rows()


def _sniff_delimiter(text: str, key_column: str) -> str:
    """The delimiter whose header contains the key column, else the one splitting it most."""
    heads: dict[str, list[str]] = {}
    for delimiter in _DELIMITERS:
        try:
            rows = list(islice(_iter_csv(text, delimiter), 20))
        except ValidationFailed:
            continue
        header = next((row for row in rows if any(cell.strip() for cell in row)), [])
        if key_column.casefold() in (cell.strip().casefold() for cell in header):
            return delimiter
        heads[delimiter] = header
    return max(heads, key=lambda d: len(heads[d]), default=",")


def _iter_csv(text: str, delimiter: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        raise ValidationFailed(f"The CSV file could not be read at line {reader.line_num}: {exc}.") from exc


def _read_json(text: str) -> tuple[list[str], Iterable[dict[str, Any]]]:
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"The JSON file could not be read: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed(f"The JSON file could not be read: {exc}.") from exc
    items = document if isinstance(document, list) else None
    if isinstance(document, dict):
        items = next((document[k] for k in _JSON_LIST_KEYS if isinstance(document.get(k), list)), None)
    if items is None:
        raise ValidationFailed(
            'JSON records must be a list of objects, or an object with an "items", "data" or "records" list.'
        )
    columns: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValidationFailed(f"JSON item {index} is not an object; every record must be an object.")
        row = {_without_nul(name): _json_value(value) for name, value in item.items()}
        columns.update(dict.fromkeys(row))
        rows.append(row)
    return _column_names(list(columns), dedupe=False), rows


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (PostgreSQL cannot store it)")


def _json_value(value: Any) -> Any:
    """Strings lose NUL characters (PostgreSQL text and jsonb reject them); nested values are kept."""
    if isinstance(value, str):
        return _without_nul(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):  # 1e999 parses to inf
        raise ValidationFailed("The JSON file has a number too large to store.")
    return value


def _without_nul(text: str) -> str:
    return text.replace("\x00", "")


def _column_names(header: list[str], *, dedupe: bool = True) -> list[str]:
    if len(header) > MAX_COLUMNS:
        raise ValidationFailed(f"The file has {len(header)} columns; the limit is {MAX_COLUMNS}.")
    names: list[str] = []
    for index, cell in enumerate(header, start=1):
        # JSON keys are used as they are (rows are keyed by them); CSV headers are tidied.
        name = cell if not dedupe else (cell.strip() or f"column_{index}")
        if len(name) > MAX_COLUMN_NAME_CHARS:
            raise ValidationFailed(
                f"Column {index}'s name is longer than {MAX_COLUMN_NAME_CHARS} characters."
            )
        base, suffix = name, 2
        while dedupe and name in names:  # spreadsheets allow repeated headers; keep every column
            name, suffix = f"{base}_{suffix}", suffix + 1
        names.append(name)
    return names


def _resolve_key_column(columns: list[str], key_column: str) -> str:
    return _resolve_column(columns, key_column, "key column")


def _resolve_column(columns: list[str], wanted: str, what: str) -> str:
    wanted = wanted.strip()
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.casefold() == wanted.casefold()]
    if len(folded) == 1:
        return folded[0]
    shown = ", ".join(columns[:50]) + (", ..." if len(columns) > 50 else "")
    raise ValidationFailed(f"{what} '{wanted}' not found; columns are: {shown}")


def _key_text(value: Any) -> str:
    """The lookup key for a cell or argument: trimmed text; objects, lists and nulls are no key."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # exports often turn the id 10023 into 10023.0
    return str(value).strip()
