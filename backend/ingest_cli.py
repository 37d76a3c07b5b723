"""`kefu ingest`: upload files through the same services as the API and follow their progress."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import click
from tqdm import tqdm

from core.db import sync_tenant_session
from core.errors import KefuError
from knowledge import documents
from knowledge.parsing import SUPPORTED_EXTENSIONS


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)


def upload_file(tenant_id: uuid.UUID, file: Path) -> tuple[uuid.UUID, str]:
    """Store one file and queue it (unless identical content is already there)."""
    prepared = documents.prepare_upload(tenant_id, file.name, file.read_bytes())
    with sync_tenant_session(tenant_id) as session:
        result = documents.record_upload(session, tenant_id, prepared)
        document_id, action = result.document.id, result.action
    return document_id, action


def ingest_paths(path: Path, tenant_id: uuid.UUID, *, wait: bool, inline: bool, timeout: int) -> None:
    files = _files(path)
    if not files:
        raise click.ClickException(f"No supported files under {path}.")
    queued: dict[uuid.UUID, str] = {}
    for file in tqdm(files, desc="upload", unit="file"):
        try:
            document_id, action = upload_file(tenant_id, file)
        except KefuError as exc:
            tqdm.write(f"skipped {file}: {exc.detail}")
            continue
        if action == "unchanged":
            tqdm.write(f"unchanged {file.name}")
            continue
        queued[document_id] = file.name
        if inline:
            from knowledge.indexing import ingest

            ingest(tenant_id, document_id)
        else:
            from knowledge.tasks import ingest_document

            ingest_document.send(str(tenant_id), str(document_id))
    if not queued or not wait:
        click.echo(f"{len(queued)} document(s) queued")
        return
    _follow(tenant_id, queued, timeout)


def _follow(tenant_id: uuid.UUID, queued: dict[uuid.UUID, str], timeout: int) -> None:
    deadline = time.monotonic() + timeout
    done: dict[uuid.UUID, tuple[str, int, str | None]] = {}
    with tqdm(total=len(queued), desc="index", unit="doc") as bar:
        while len(done) < len(queued) and time.monotonic() < deadline:
            with sync_tenant_session(tenant_id) as session:
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
