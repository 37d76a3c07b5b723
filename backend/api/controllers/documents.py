"""Knowledge documents: upload (202, processed by the ingest worker), list, read, delete."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import FromPath, MultipartBody, QueryParameter

from backend.api.auth import CurrentPrincipal, requires
from backend.api.schemas import DocumentOut, DocumentPage, DocumentUpload, UploadAccepted
from core.db import tenant_session
from core.errors import ServiceUnavailable, ValidationFailed
from core.models import DOCUMENT_STATUSES
from core.versions import abump_tenant_version
from knowledge import documents, indexing
from knowledge.tasks import ingest_document


class DocumentController(Controller):
    path = "/api/v1/documents"
    tags = ["documents"]

    @post("/", status_code=202, guards=[requires("admin")], summary="Upload a knowledge document")
    async def upload(
        self,
        principal: CurrentPrincipal,
        data: MultipartBody[DocumentUpload],
    ) -> UploadAccepted:
        upload = data.file
        if not hasattr(upload, "read"):
            raise ValidationFailed("Send the document as a multipart form field named 'file'.")
        content = await upload.read()
        prepared = await asyncio.to_thread(
            documents.prepare_upload, principal.tenant_id, upload.filename, content, upload.content_type
        )
        async with tenant_session(principal.tenant_id) as session:
            result = await session.run_sync(documents.record_upload, principal.tenant_id, prepared)
            document = result.document
            accepted = UploadAccepted(document.id, document.status, document.version, result.action)
        if result.needs_ingest:
            try:
                await asyncio.to_thread(ingest_document.send, str(principal.tenant_id), str(document.id))
            except Exception as exc:
                # Failed, not queued forever: uploading the same file again requeues a failed document.
                await asyncio.to_thread(indexing.mark_failed, principal.tenant_id, document.id, document.version,
                                        "The work queue was unreachable when this was uploaded; upload it again.")
                raise ServiceUnavailable(
                    "The document is stored but the work queue is unreachable; upload it again shortly."
                ) from exc
        return accepted

    @get("/", guards=[requires("analyst")], summary="List documents")
    async def list_documents(
        self,
        principal: CurrentPrincipal,
        status: Annotated[str | None, QueryParameter(required=False)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> DocumentPage:
        if status is not None and status not in DOCUMENT_STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(DOCUMENT_STATUSES)}.")
        async with tenant_session(principal.tenant_id) as session:
            rows, total = await session.run_sync(
                lambda s: documents.list_documents(s, principal.tenant_id, status=status, limit=limit,
                                                   offset=offset)
            )
            return DocumentPage([DocumentOut.of(d) for d in rows], total, limit, offset)

    @get("/{document_id:uuid}", guards=[requires("analyst")], summary="Read a document's status")
    async def get_document(self, principal: CurrentPrincipal, document_id: FromPath[uuid.UUID]) -> DocumentOut:
        async with tenant_session(principal.tenant_id) as session:
            document = await session.run_sync(documents.get_document, principal.tenant_id, document_id)
            return DocumentOut.of(document)

    @delete("/{document_id:uuid}", status_code=204, guards=[requires("admin")], summary="Delete a document")
    async def delete_document(self, principal: CurrentPrincipal, document_id: FromPath[uuid.UUID]) -> None:
        async with tenant_session(principal.tenant_id) as session:
            blob_key = await session.run_sync(documents.delete_document, principal.tenant_id, document_id)
        await abump_tenant_version(principal.tenant_id)
        await asyncio.to_thread(documents.remove_blob, blob_key)
