"""The tenant's structured data for the `lookup_record` tool: import collections, look records up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody, MultipartBody

from backend.api.auth import CurrentPrincipal, requires
from core.audit import Actor
from core.db import tenant_session
from core.errors import NotFound, ValidationFailed
from core.models import RecordCollection
from knowledge import commands, records


@dataclass
class RecordUpload:
    file: UploadFile
    key_column: str | None = None
    # Who may read a record in the chat: the verified user whose id is in this column (docs/security.md).
    owner_column: str | None = None
    # Comma-separated columns masked in chat answers; "" clears them; left out: kept.
    sensitive_columns: str | None = None
    # "true": any visitor may read the records (a catalogue); without owner_column or public: private.
    public: str | None = None


@dataclass
class AccessIn:
    """Who may read the collection in the chat; a field left out keeps its value."""

    owner_column: str | None = None  # "" removes the owner column
    sensitive_columns: list[str] | None = None
    public: bool | None = None


@dataclass
class CollectionOut:
    collection: str
    key_column: str
    row_count: int
    columns: list[str]
    updated_at: datetime
    access: str  # owner | public | private
    owner_column: str | None
    sensitive_columns: list[str]

    @classmethod
    def of(cls, c: RecordCollection) -> CollectionOut:
        return cls(c.name, c.key_column, c.row_count, list(c.columns), c.updated_at, c.access, c.owner_column,
                   list(c.sensitive_columns))


def _upload_access(upload: RecordUpload) -> records.AccessChange:
    public = None
    if upload.public is not None and upload.public.strip():
        flag = upload.public.strip().lower()
        if flag not in ("true", "false", "1", "0", "yes", "no"):
            raise ValidationFailed("public must be true or false.")
        public = flag in ("true", "1", "yes")
    sensitive = None
    if upload.sensitive_columns is not None:
        sensitive = [c.strip() for c in upload.sensitive_columns.split(",") if c.strip()]
    owner = upload.owner_column.strip() or None if upload.owner_column is not None else None
    return records.AccessChange(owner, sensitive, public)


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
        summary="Import a CSV, XLSX or JSON file as a record collection (replaces its rows)",
    )
    async def import_collection(
        self, principal: CurrentPrincipal, collection: FromPath[str], data: MultipartBody[RecordUpload]
    ) -> CollectionOut:
        upload = data.file
        if not hasattr(upload, "read"):
            raise ValidationFailed("Send the records as a multipart form field named 'file'.")
        records.check_collection_name(collection)  # before reading a body that cannot be stored
        content = await upload.read()
        access = _upload_access(data)
        stored = await asyncio.to_thread(lambda: commands.import_records(
            principal.tenant_id, collection, upload.filename, content, data.key_column or "", access,
            actor=Actor.of(principal)))
        return CollectionOut.of(stored)

    @put("/{collection:str}/access", guards=[requires("admin")],
         summary="Change who may read the collection in the chat (owner column, public) and its masked columns")
    async def change_access(self, principal: CurrentPrincipal, collection: FromPath[str],
                            data: JSONBody[AccessIn]) -> CollectionOut:
        records.check_collection_name(collection)
        if data.sensitive_columns is not None and not all(isinstance(c, str) for c in data.sensitive_columns):
            raise ValidationFailed("sensitive_columns must be a list of column names.")
        change = records.AccessChange(data.owner_column, data.sensitive_columns, data.public)
        stored = await asyncio.to_thread(lambda: commands.change_record_access(
            principal.tenant_id, collection, change, actor=Actor.of(principal)))
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
        await asyncio.to_thread(lambda: commands.delete_record_collection(principal.tenant_id, collection,
                                                                          actor=Actor.of(principal)))
