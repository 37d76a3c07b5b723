"""`kefu source`: website sources through the same commands as the API (`knowledge.commands`)."""

from __future__ import annotations

import json
import time
import uuid

import click

from core.db import tenant_session_sync
from core.errors import KefuError
from core.models import Source
from knowledge import commands
from knowledge.sources import store, sync

FINISHED = ("ready", "failed")


def describe(source: Source) -> dict[str, object]:
    return {"id": str(source.id), "url": source.url, "status": source.status, "schedule": source.schedule,
            "pages_seen": source.pages_seen, "pages_indexed": source.pages_indexed,
            "pages_unchanged": source.pages_unchanged, "pages_removed": source.pages_removed,
            "pages_failed": source.pages_failed, "pages_skipped": source.pages_skipped,
            "last_sync_at": source.last_sync_at.isoformat() if source.last_sync_at else None,
            "error": source.error}


def read(tenant_id: uuid.UUID, source_id: uuid.UUID) -> Source:
    with tenant_session_sync(tenant_id) as session:
        source = store.get_source(session, tenant_id, source_id)
        session.expunge(source)
        return source


def progress_line(source: Source) -> str:
    return (f"{source.status}: {source.pages_seen} seen, {source.pages_indexed} indexed, "
            f"{source.pages_unchanged} unchanged, {source.pages_removed} removed, {source.pages_failed} failed, "
            f"{source.pages_skipped} skipped")


def follow(tenant_id: uuid.UUID, source: Source, *, inline: bool, wait: bool, timeout: int) -> Source:
    """Run the queued sync here (`inline`) or wait for a worker to finish it, printing progress."""
    if inline:
        with sync.tenant_lock(tenant_id, source.run_id) as acquired:
            if not acquired:
                raise click.ClickException("Another sync of this tenant is running; try again when it ends.")
            sync.run_sync(tenant_id, source.id, source.run_id)
        return read(tenant_id, source.id)
    if not wait:
        return source
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        source = read(tenant_id, source.id)
        line = progress_line(source)
        if line != last:
            click.echo(line, err=True)
            last = line
        if source.status in FINISHED:
            return source
        time.sleep(1)
    raise click.ClickException(f"The sync is still {source.status} after {timeout} s; "
                               f"`kefu source list` shows its progress.")


def finish(source: Source, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(describe(source), ensure_ascii=False))
    else:
        click.echo(f"{source.id} {source.url}\n{progress_line(source)}" + (f"\n{source.error}" if source.error else ""))
    if source.status == "failed":
        raise SystemExit(1)


def add(tenant_id: uuid.UUID, url: str, *, max_pages: int | None, max_depth: int | None, schedule: str,
        include: tuple[str, ...], exclude: tuple[str, ...], wait: bool, inline: bool, timeout: int,
        as_json: bool) -> None:
    try:
        source = commands.add_website_source(tenant_id, url, max_pages=max_pages, max_depth=max_depth,
                                             schedule=schedule, include=list(include), exclude=list(exclude))
    except KefuError as exc:
        raise click.ClickException(exc.detail) from exc
    finish(follow(tenant_id, source, inline=inline, wait=wait, timeout=timeout), as_json)


def sync_now(tenant_id: uuid.UUID, source_id: uuid.UUID, *, wait: bool, inline: bool, timeout: int,
             as_json: bool) -> None:
    try:
        source = commands.sync_source_now(tenant_id, source_id)
    except KefuError as exc:
        raise click.ClickException(exc.detail) from exc
    finish(follow(tenant_id, source, inline=inline, wait=wait, timeout=timeout), as_json)


def list_sources(tenant_id: uuid.UUID, as_json: bool) -> None:
    with tenant_session_sync(tenant_id) as session:
        sources = store.list_sources(session, tenant_id)
        rows = [describe(s) for s in sources]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("No sources; add one with `kefu source add --tenant T URL`.")
    for row in rows:
        click.echo(f"{row['id']}  {row['status']:<8} {row['schedule']:<6} {row['pages_indexed']:>5} indexed  "
                   f"{row['url']}" + (f"\n    {row['error']}" if row["error"] else ""))


def remove(tenant_id: uuid.UUID, source_id: uuid.UUID) -> None:
    try:
        commands.delete_source(tenant_id, source_id)
    except KefuError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"removed {source_id} and its pages")
