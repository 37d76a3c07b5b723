"""`--tenant` options of the `kefu` commands: a tenant id, or a tenant's exact name."""

from __future__ import annotations

import uuid

import click


def resolve_tenant(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    from sqlalchemy import text

    from core.db import owner_engine

    with owner_engine().connect() as conn:
        rows = conn.execute(text("SELECT id FROM tenants WHERE name = :n"), {"n": value}).all()
    if len(rows) != 1:
        raise click.ClickException(f"No single tenant named {value!r}; pass the tenant id instead.")
    return uuid.UUID(str(rows[0].id))
