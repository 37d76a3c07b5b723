"""Logs on stderr, one line per event, in one format for every process (`KEFU_LOG_FORMAT`).

"json": one object a line with any `extra=` fields and the request or actor context; "text": the
same fields for a person (`2026-12-07 12:45:31 INFO  kefu.access  GET /api/v1/chat 200 12.3 ms`).
Handlers other libraries install (Dramatiq, uvicorn, Waitress) are switched to the same format.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "kefu_context"}


# Fields every log line of the current request or actor run carries (request_id, tenant_id,
# conversation_id, actor, message_id). A ContextVar, so each asyncio task and thread has its own.
_context: ContextVar[dict[str, str] | None] = ContextVar("kefu_log_context", default=None)


_base_record_factory = logging.getLogRecordFactory()


def _record_with_context(*args: object, **kwargs: object) -> logging.LogRecord:
    # Captured when the line is logged: handlers may format it later, outside the request.
    record = _base_record_factory(*args, **kwargs)
    record.kefu_context = _context.get()
    return record


logging.setLogRecordFactory(_record_with_context)


def bind_log_context(**fields: object) -> None:
    """Add fields to every log line of the current request, task or actor run."""
    current = _context.get() or {}
    _context.set({**current, **{k: str(v) for k, v in fields.items() if v is not None}})


def reset_log_context(**fields: object) -> None:
    """Start a new context (a new request or message) with just these fields."""
    _context.set({k: str(v) for k, v in fields.items() if v is not None})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "kefu_context", None) or {})
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


_ACCESS_FIELDS = frozenset({"method", "path", "status", "duration_ms"})


class TextFormatter(logging.Formatter):
    """One readable line: local time, level, logger, message, then the extra fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {**(getattr(record, "kefu_context", None) or {}),
                  **{k: v for k, v in record.__dict__.items() if k not in _STANDARD}}
        if record.name.endswith(".access"):  # the message already says method, path, status and time
            fields = {k: v for k, v in fields.items() if k not in _ACCESS_FIELDS}
        when = datetime.fromtimestamp(record.created).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        line = f"{when} {record.levelname:<7} {record.name}  {record.getMessage()}"
        if fields:
            line += "  " + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text_value(value: object) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(shown, ensure_ascii=False) if not shown or " " in shown else shown


def kefu_formatter() -> logging.Formatter:
    """The formatter `KEFU_LOG_FORMAT` asks for."""
    from core.settings import get_settings

    return TextFormatter() if get_settings().log_format == "text" else JsonFormatter()


def use_kefu_logs() -> None:
    """Switch handlers someone else installed (Dramatiq's worker processes) to Kefu's format."""
    from core.settings import get_settings

    if get_settings().env == "test":  # leave pytest's capture handlers alone
        return
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setFormatter(kefu_formatter())
    if not root.handlers:
        configure_logging()


def configure_logging(level: int = logging.INFO) -> None:
    """One stderr handler on the root logger in Kefu's format; library loggers propagate to it."""
    root = logging.getLogger()
    ours = next((h for h in root.handlers if getattr(h, "kefu", False)), None)
    if ours is None:
        ours = logging.StreamHandler(sys.stderr)
        ours.kefu = True  # type: ignore[attr-defined]
        root.addHandler(ours)
        root.setLevel(level)
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin loaded
    ours.setFormatter(kefu_formatter())
