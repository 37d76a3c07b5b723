"""`kefu ingest`: upload files through the same command as the API (`knowledge.commands`) and follow them."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import click
from tqdm import tqdm

from core.audit import CLI
from core.db import tenant_session_sync
from core.errors import KefuError, ServiceUnavailable
from knowledge import commands, documents
from knowledge.parsing import SUPPORTED_EXTENSIONS


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)


def ingest_paths(path: Path, tenant_id: uuid.UUID, *, wait: bool, inline: bool, timeout: int) -> None:
    files = _files(path)
    if not files:
        raise click.ClickException(f"No supported files under {path}.")
    queued: dict[uuid.UUID, str] = {}
    for file in tqdm(files, desc="upload", unit="file"):
        try:
            accepted = commands.upload_document(tenant_id, file.name, file.read_bytes(), inline=inline, actor=CLI)
        except ServiceUnavailable as exc:
            raise click.ClickException(exc.detail) from exc
        except KefuError as exc:
            tqdm.write(f"skipped {file}: {exc.detail}")
            continue
        if accepted.action == "unchanged":
            tqdm.write(f"unchanged {file.name}")
            continue
        queued[accepted.document_id] = file.name
    if not queued or not wait:
        click.echo(f"{len(queued)} document(s) queued")
        return
    _follow(tenant_id, queued, timeout)


def _follow(tenant_id: uuid.UUID, queued: dict[uuid.UUID, str], timeout: int) -> None:
    deadline = time.monotonic() + timeout
    done: dict[uuid.UUID, tuple[str, int, str | None]] = {}
    with tqdm(total=len(queued), desc="index", unit="doc") as bar:
        while len(done) < len(queued) and time.monotonic() < deadline:
            with tenant_session_sync(tenant_id) as session:
                for document_id in queued.keys() - done.keys():
                    d = documents.get_document(session, tenant_id, document_id)
                    if d.status in ("ready", "failed"):
                        done[document_id] = (d.status, d.chunk_count, d.error)
                        bar.update(1)
            time.sleep(0.5)
    failed = 0
    for document_id, name in queued.items():
        status, chunks, error = done.get(document_id, ("still processing", 0, None))
        failed += status != "ready"
        click.echo(f"{name}: {status}, {chunks} chunks" + (f" ({error})" if error else ""))
    if failed:
        raise click.ClickException(f"{failed} document(s) not ready")
