"""Structured JSON logs on stderr, one object per line, with any `extra=` fields included."""

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


def use_json_logs() -> None:
    """Switch handlers someone else installed (Dramatiq's worker processes) to JSON lines."""
    from core.settings import get_settings

    if get_settings().env == "test":  # leave pytest's capture handlers alone
        return
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    if not root.handlers:
        configure_logging()


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
