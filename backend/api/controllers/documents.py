"""Knowledge documents: upload (202, processed by the ingest worker), list, read, delete; curate uploaded FAQ rows."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, JSONBody, MultipartBody, QueryParameter

from backend.api.auth import CurrentPrincipal, requires
from backend.api.schemas import (
    DocumentOut,
    DocumentPage,
    DocumentUpload,
    FaqRowChange,
    FaqRowOut,
    FaqRowPage,
    UploadAccepted,
)
from core.audit import Actor
from core.db import tenant_session
from core.errors import ValidationFailed
from core.models import DOCUMENT_STATUSES
from knowledge import commands, documents, faq_overrides, similar_questions

# Far beyond any tenant's page count, and within PostgreSQL's bigint (a larger OFFSET is a server error).
MAX_OFFSET = 1_000_000_000


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
        accepted = await asyncio.to_thread(lambda: commands.upload_document(
            principal.tenant_id, upload.filename, content, upload.content_type, actor=Actor.of(principal)))
        return UploadAccepted(accepted.document_id, accepted.status, accepted.version, accepted.action)

    @get("/", guards=[requires("analyst")], summary="List documents")
    async def list_documents(
        self,
        principal: CurrentPrincipal,
        status: Annotated[str | None, QueryParameter(required=False)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
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

    @post("/{document_id:uuid}/reindex", status_code=202, guards=[requires("admin")],
          summary="Index a failed or stuck document again",
          description="For a document that failed, or waits in queued/processing because its job or worker was "
                      "lost. 409 when it is already indexed or a live worker is indexing it.")
    async def reindex(self, principal: CurrentPrincipal, document_id: FromPath[uuid.UUID]) -> UploadAccepted:
        accepted = await asyncio.to_thread(lambda: commands.reindex_document(principal.tenant_id, document_id,
                                                                            actor=Actor.of(principal)))
        return UploadAccepted(accepted.document_id, accepted.status, accepted.version, accepted.action)

    @delete("/{document_id:uuid}", status_code=204, guards=[requires("admin")], summary="Delete a document")
    async def delete_document(self, principal: CurrentPrincipal, document_id: FromPath[uuid.UUID]) -> None:
        await asyncio.to_thread(lambda: commands.delete_documents(principal.tenant_id, [document_id],
                                                                 actor=Actor.of(principal)))

    @get("/{document_id:uuid}/faq-rows", guards=[requires("analyst")], summary="List an uploaded FAQ's rows")
    async def list_faq_rows(
        self,
        principal: CurrentPrincipal,
        document_id: FromPath[uuid.UUID],
        search: Annotated[str | None, QueryParameter(required=False, max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=faq_overrides.MAX_PAGE)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> FaqRowPage:
        async with tenant_session(principal.tenant_id) as session:
            rows, total = await session.run_sync(
                lambda s: faq_overrides.list_rows(s, principal.tenant_id, document_id, search=search, limit=limit,
                                                  offset=offset)
            )
        return FaqRowPage([FaqRowOut.of(r) for r in rows], total, limit, offset)

    @put("/{document_id:uuid}/faq-rows", status_code=202, guards=[requires("admin")],
         summary="Edit, disable or enable one uploaded FAQ row or set its similar questions (re-indexed later)")
    async def change_faq_row(
        self, principal: CurrentPrincipal, document_id: FromPath[uuid.UUID], data: JSONBody[FaqRowChange]
    ) -> FaqRowOut:
        edit = data.question is not None or data.answer is not None
        if not edit and data.disabled is None and data.similar_questions is None:
            raise ValidationFailed("Send question and answer to edit the row, similar_questions (a list) to set "
                                   "its other wordings, and/or disabled: true or false.")
        if data.similar_questions is not None:
            similar_questions.checked(data.similar_questions, "")  # refused before anything is written
        tenant, user = principal.tenant_id, principal.user_id
        row = None
        if edit:
            row = await asyncio.to_thread(commands.edit_faq_row, tenant, document_id, data.source_ref,
                                          data.question or "", data.answer or "", user_id=user)
        if data.similar_questions is not None:
            row = await asyncio.to_thread(commands.set_faq_row_similar_questions, tenant, document_id,
                                          data.source_ref, data.similar_questions, user_id=user)
        if data.disabled is not None:
            row = await asyncio.to_thread(commands.set_faq_row_disabled, tenant, document_id, data.source_ref,
                                          data.disabled, user_id=user)
        assert row is not None
        return FaqRowOut.of(row)

    @delete("/{document_id:uuid}/faq-rows", status_code=202, guards=[requires("admin")],
            summary="Revert an uploaded FAQ row to the file's text (drop its edit)")
    async def revert_faq_row(
        self,
        principal: CurrentPrincipal,
        document_id: FromPath[uuid.UUID],
        source_ref: Annotated[str, QueryParameter(min_length=1, max_length=500)],
    ) -> FaqRowOut:
        row = await asyncio.to_thread(commands.revert_faq_row, principal.tenant_id, document_id, source_ref,
                                      user_id=principal.user_id)
        return FaqRowOut.of(row)
