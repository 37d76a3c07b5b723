"""Knowledge sources (a tenant's website): add (202, crawled by a worker), read progress, sync, delete."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from backend.api.auth import CurrentPrincipal, requires
from core.db import tenant_session
from core.errors import ValidationFailed
from core.models import Source, SourcePage
from knowledge import commands
from knowledge.sources import store

MAX_OFFSET = 1_000_000_000


@dataclass
class SourceIn:
    url: str
    type: str = "website"
    max_pages: int | None = None
    max_depth: int | None = None
    schedule: str | None = None  # off | daily | weekly
    include: list[str] | None = None  # URL globs, e.g. "/help/*"
    exclude: list[str] | None = None


@dataclass
class SourceOut:
    id: uuid.UUID
    type: str
    url: str
    status: str  # queued | crawling | ready | failed
    schedule: str
    max_pages: int
    max_depth: int
    include: list[str]
    exclude: list[str]
    pages_seen: int
    pages_indexed: int
    pages_unchanged: int
    pages_removed: int
    pages_failed: int
    pages_skipped: int
    sync_started_at: datetime | None
    last_sync_at: datetime | None
    next_sync_at: datetime | None
    error: str | None
    created_at: datetime

    @classmethod
    def of(cls, s: Source) -> SourceOut:
        return cls(s.id, s.type, s.url, s.status, s.schedule, s.max_pages, s.max_depth, list(s.include or []),
                   list(s.exclude or []), s.pages_seen, s.pages_indexed, s.pages_unchanged, s.pages_removed,
                   s.pages_failed, s.pages_skipped, s.sync_started_at, s.last_sync_at, s.next_sync_at, s.error,
                   s.created_at)


@dataclass
class SourceList:
    items: list[SourceOut]


@dataclass
class SourcePageOut:
    url: str
    title: str | None
    result: str  # indexed | unchanged | failed | removed | skipped
    error: str | None
    http_status: int | None
    document_id: uuid.UUID | None
    depth: int
    fetched_at: datetime | None
    changed_at: datetime | None

    @classmethod
    def of(cls, p: SourcePage) -> SourcePageOut:
        return cls(p.url, p.title, p.result, p.error, p.http_status, p.document_id, p.depth, p.fetched_at,
                   p.changed_at)


@dataclass
class SourcePageList:
    source_id: uuid.UUID
    url: str
    status: str
    items: list[SourcePageOut]
    total: int
    limit: int
    offset: int


class SourceController(Controller):
    path = "/api/v1/sources"
    tags = ("sources",)

    @post("/", status_code=202, guards=[requires("admin")], summary="Add a website source (crawled in the background)")
    async def add_source(self, principal: CurrentPrincipal, data: JSONBody[SourceIn]) -> SourceOut:
        if data.type != "website":
            raise ValidationFailed('type must be "website" (the only kind of source so far).')
        source = await asyncio.to_thread(commands.add_website_source, principal.tenant_id, data.url,
                                         max_pages=data.max_pages, max_depth=data.max_depth, schedule=data.schedule,
                                         include=data.include, exclude=data.exclude)
        return SourceOut.of(source)

    @get("/", guards=[requires("analyst")], summary="List sources with their sync progress")
    async def list_sources(self, principal: CurrentPrincipal) -> SourceList:
        async with tenant_session(principal.tenant_id) as session:
            rows = await session.run_sync(store.list_sources, principal.tenant_id)
            return SourceList([SourceOut.of(s) for s in rows])

    @get("/{source_id:uuid}", guards=[requires("analyst")], summary="Read a source's status and page counters")
    async def get_source(self, principal: CurrentPrincipal, source_id: FromPath[uuid.UUID]) -> SourceOut:
        async with tenant_session(principal.tenant_id) as session:
            source = await session.run_sync(store.get_source, principal.tenant_id, source_id)
            return SourceOut.of(source)

    @get("/{source_id:uuid}/pages", guards=[requires("analyst")],
         summary="Each page's result in the latest sync (indexed, unchanged, failed with reason, removed, skipped)")
    async def list_pages(
        self,
        principal: CurrentPrincipal,
        source_id: FromPath[uuid.UUID],
        result: Annotated[str | None, QueryParameter(required=False)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> SourcePageList:
        tenant = principal.tenant_id
        async with tenant_session(tenant) as session:
            source = await session.run_sync(store.get_source, tenant, source_id)
            rows, total = await session.run_sync(
                lambda s: store.list_pages(s, tenant, source_id, result=result, limit=limit, offset=offset))
            return SourcePageList(source.id, source.url, source.status, [SourcePageOut.of(p) for p in rows], total,
                                  limit, offset)

    @post("/{source_id:uuid}/sync", status_code=202, guards=[requires("admin")], summary="Sync a source now")
    async def sync_source(self, principal: CurrentPrincipal, source_id: FromPath[uuid.UUID]) -> SourceOut:
        return SourceOut.of(await asyncio.to_thread(commands.sync_source_now, principal.tenant_id, source_id))

    @delete("/{source_id:uuid}", status_code=204, guards=[requires("admin")],
            summary="Delete a source with its pages' documents")
    async def delete_source(self, principal: CurrentPrincipal, source_id: FromPath[uuid.UUID]) -> None:
        await asyncio.to_thread(commands.delete_source, principal.tenant_id, source_id)
