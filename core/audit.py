"""The audit log of admin actions: written by the command functions, read and exported by owners.

Each command that changes a tenant's settings, keys, users, documents, records, identity secret or
erases customer data calls `record` in its own transaction, so an entry exists exactly when the
change does. Entries name the actor (a user's email, an API key's prefix, the CLI, the system), the
action, its target and a few details; never a secret's value.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import ApiKey, AuditEntry, User

MAX_PAGE = 1000
CSV_COLUMNS = ("at", "actor_kind", "actor", "action", "target", "details")
# Cells a spreadsheet would run as a formula start with these; exports are opened in Excel.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Actor:
    """Who did it: kind user|api_key|cli|system, the user's or key's id, a readable label if known."""

    kind: str
    id: uuid.UUID | None = None
    label: str = ""

    @classmethod
    def of(cls, principal: Any) -> Actor:
        """The actor of an API or admin-app principal (core.tenancy.Principal)."""
        if getattr(principal, "user_id", None) is not None:
            return cls("user", principal.user_id)
        if getattr(principal, "api_key_id", None) is not None:
            return cls("api_key", principal.api_key_id)
        return cls("system", label="unknown")


CLI = Actor("cli", label="kefu CLI")
SYSTEM = Actor("system", label="Kefu")


def _label(session: Session, actor: Actor) -> str:
    if actor.label:
        return actor.label
    if actor.kind == "user" and actor.id is not None:
        return session.scalar(select(User.email).where(User.id == actor.id)) or f"user {actor.id}"
    if actor.kind == "api_key" and actor.id is not None:
        prefix = session.scalar(select(ApiKey.prefix).where(ApiKey.id == actor.id))
        return f"API key {prefix}…" if prefix else f"API key {actor.id}"
    return actor.kind


def record(session: Session, tenant_id: uuid.UUID, actor: Actor | None, action: str, target: str,
           details: dict[str, Any] | None = None) -> None:
    """Add an entry in the caller's transaction (`actor` None: the system)."""
    actor = actor or SYSTEM
    session.add(AuditEntry(tenant_id=tenant_id, actor_kind=actor.kind, actor_id=actor.id,
                           actor_label=_label(session, actor)[:320], action=action, target=target[:2000],
                           details=details or {}))
    session.flush()


def entries(session: Session, tenant_id: uuid.UUID, *, limit: int = 100, before_id: int | None = None,
            action: str | None = None) -> list[AuditEntry]:
    """The newest entries first; `before_id` pages back, `action` filters by prefix (e.g. "records.")."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(min(max(limit, 1), MAX_PAGE))))


def entry_out(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "at": entry.at.isoformat(), "actor_kind": entry.actor_kind,
            "actor": entry.actor_label, "action": entry.action, "target": entry.target, "details": entry.details}


def _cell(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_csv(session: Session, tenant_id: uuid.UUID) -> Iterator[str]:
    """Every entry, oldest first, as CSV text in pieces (UTF-8 BOM first so Excel reads Chinese)."""
    import json

    yield "\ufeff"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    rows = session.execute(select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
                           .order_by(AuditEntry.id).execution_options(yield_per=1000)).scalars()
    for count, entry in enumerate(rows, start=1):
        writer.writerow([_cell(entry.at), entry.actor_kind, _cell(entry.actor_label), _cell(entry.action),
                         _cell(entry.target), _cell(json.dumps(entry.details, ensure_ascii=False))])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
