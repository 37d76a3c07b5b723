"""The tenant's structured data for the `lookup_record` tool: import collections, look records up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, delete, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, MultipartBody

from backend.api.auth import CurrentPrincipal, requires
from core.db import tenant_session
from core.errors import NotFound, ValidationFailed
from core.models import RecordCollection
from knowledge import commands, records


@dataclass
class RecordUpload:
    file: UploadFile
    key_column: str | None = None


@dataclass
class CollectionOut:
    collection: str
    key_column: str
    row_count: int
    columns: list[str]
    updated_at: datetime

    @classmethod
    def of(cls, c: RecordCollection) -> CollectionOut:
        return cls(c.name, c.key_column, c.row_count, list(c.columns), c.updated_at)


@dataclass
class CollectionList:
    items: list[CollectionOut]


@dataclass
class RecordOut:
    collection: str
    key: str
    data: dict[str, Any]


class RecordController(Controller):
    path = "/api/v1/records"
    tags = ("records",)

    @post(
        "/{collection:str}",
        status_code=200,
        guards=[requires("admin")],
        summary="Import a CSV/JSON file as a record collection (replaces its rows)",
    )
    async def import_collection(
        self, principal: CurrentPrincipal, collection: FromPath[str], data: MultipartBody[RecordUpload]
    ) -> CollectionOut:
        upload = data.file
        if not hasattr(upload, "read"):
            raise ValidationFailed("Send the records as a multipart form field named 'file'.")
        records.check_collection_name(collection)  # before reading a body that cannot be stored
        content = await upload.read()
        stored = await asyncio.to_thread(commands.import_records, principal.tenant_id, collection, upload.filename,
                                         content, data.key_column or "")
        return CollectionOut.of(stored)

    @get("/", guards=[requires("analyst")], summary="List record collections")
    async def list_collections(self, principal: CurrentPrincipal) -> CollectionList:
        async with tenant_session(principal.tenant_id) as session:
            rows = await session.run_sync(records.list_collections, principal.tenant_id)
            return CollectionList([CollectionOut.of(c) for c in rows])

    @get("/{collection:str}/{key:str}", guards=[requires("analyst")], summary="Look up one record by key")
    async def get_record(
        self, principal: CurrentPrincipal, collection: FromPath[str], key: FromPath[str]
    ) -> RecordOut:
        async with tenant_session(principal.tenant_id) as session:
            found = await session.run_sync(records.lookup_record, principal.tenant_id, collection, key)
        if found is None:
            raise NotFound(f"No record '{key}' in collection '{collection}'.")
        return RecordOut(collection, key.strip(), found)

    @delete(
        "/{collection:str}", status_code=204, guards=[requires("admin")], summary="Delete a record collection"
    )
    async def delete_collection(self, principal: CurrentPrincipal, collection: FromPath[str]) -> None:
        await asyncio.to_thread(commands.delete_record_collection, principal.tenant_id, collection)
