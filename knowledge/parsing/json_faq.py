"""JSON Q&A lists: `[{"question": ..., "answer": ...}]` or the same under "faqs", "items" or "data"."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from core.errors import DocumentParseError
from knowledge.parsing.encoding import decode_text
from knowledge.parsing.passage import Passage
from knowledge.parsing.qa import EXPECTED_COLUMNS, QAColumns, match_columns, rows_to_passages

CONTAINER_KEYS = ("faqs", "items", "data")
EXPECTED_SHAPE = (
    'expected a list of objects like [{"question": "...", "answer": "..."}], '
    'optionally inside {"faqs": [...]}, {"items": [...]} or {"data": [...]}'
)


def parse_json(data: bytes) -> list[Passage]:
    """One passage per object with a question and an answer; keys use the table header names."""
    try:
        document = json.loads(decode_text(data))
        items = _items(document)
        rows = list(_rows(items))
    except json.JSONDecodeError as exc:
        raise DocumentParseError(
            f"The JSON file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from exc
    except RecursionError as exc:
        raise DocumentParseError(f"The JSON file is nested too deeply to read; {EXPECTED_SHAPE}.") from exc
    if all(columns is None for _, columns in rows):
        keys = ", ".join(str(key) for key in items[0]) if items else "(no objects)"
        raise DocumentParseError(
            f"The JSON file has no question/answer keys: {EXPECTED_COLUMNS}; found: {keys}."
        )
    return rows_to_passages(rows, unit="item")


def _items(document: object) -> list[dict[str, object]]:
    if isinstance(document, dict):
        document = _unwrap(document)
    if not isinstance(document, list):
        raise DocumentParseError(f"The JSON file has the wrong shape: {EXPECTED_SHAPE}.")
    for number, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            raise DocumentParseError(
                f"The JSON file has the wrong shape: item {number} is {type(item).__name__}, not an object; "
                f"{EXPECTED_SHAPE}."
            )
    return document


def _unwrap(document: dict[str, object]) -> object:
    """The list under a container key; a lone Q&A object counts as a list of one."""
    for key, value in document.items():
        if key.casefold() in CONTAINER_KEYS and isinstance(value, list):
            return value
    return [document] if match_columns(list(document)) else None


def _rows(items: list[dict[str, object]]) -> Iterator[tuple[Sequence[object], QAColumns | None]]:
    columns_by_keys: dict[tuple[str, ...], QAColumns | None] = {}
    for item in items:
        keys = tuple(item)
        if keys not in columns_by_keys:
            columns_by_keys[keys] = match_columns(keys)
        yield [_value_text(value) for value in item.values()], columns_by_keys[keys]


def _value_text(value: object) -> object:
    """Scalars as they are; a list of lines joined; anything nested as compact JSON."""
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return "\n".join("" if v is None else str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value
