"""The lease a worker holds on a document it is indexing, so a dead worker's document is picked up again.

A claim marks the document `processing` with `lease_until = now + KEFU_INGEST_LEASE_SECONDS`
(default 60); while the worker parses and embeds, a small thread renews it every third of that.
A SIGKILLed or frozen worker stops renewing, and the lost-job sweep (`backend/recovery.py`, every
15 s in each `kefu worker`) re-sends `ingest_document` for every `processing` document whose lease
ran out. Indexing is idempotent (the swap checks the document's version), so a worker that was
only slow costs a wasted attempt, never duplicate chunks.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from core.db import tenant_session_sync
from core.settings import get_settings
from knowledge import ingest_share

log = logging.getLogger(__name__)

_RENEW = text(
    "UPDATE documents SET lease_until = now() + make_interval(secs => :seconds) "
    "WHERE id = :id AND status = 'processing' AND version = :version"
)


def lease_seconds() -> float:
    return get_settings().ingest_lease_seconds


def new_lease() -> datetime:
    """`lease_until` for a claim made now."""
    return datetime.now(UTC) + timedelta(seconds=lease_seconds())


def renew(tenant_id: uuid.UUID, document_id: uuid.UUID, version: int) -> bool:
    """Extend the lease; False when the document is no longer this worker's (done, newer version, deleted)."""
    with tenant_session_sync(tenant_id) as session:
        renewed = session.execute(_RENEW, {"seconds": lease_seconds(), "id": document_id, "version": version})
        return bool(renewed.rowcount)  # type: ignore[attr-defined]


@contextmanager
def held(tenant_id: uuid.UUID, document_id: uuid.UUID, version: int) -> Iterator[None]:
    """Renew the document's lease in the background while the body runs."""
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(lease_seconds() / 3):
            try:
                if not renew(tenant_id, document_id, version):
                    return
                ingest_share.renew_tenant_share(tenant_id, document_id, lease_seconds())
            except Exception:  # a database blip: the next renewal (or the sweep) sorts it out
                log.warning(
                    "could not renew an ingestion lease", exc_info=True, extra={"document_id": str(document_id)}
                )

    thread = threading.Thread(target=keep, name=f"lease-{document_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
