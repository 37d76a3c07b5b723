"""Request and response bodies of the public API (msgspec-free dataclasses, documented in OpenAPI)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from litestar.datastructures import UploadFile

from core.models import Document


@dataclass
class LoginRequest:
    email: str
    password: str


@dataclass
class LoginResponse:
    token: str
    token_type: str
    expires_in: int
    tenant_id: uuid.UUID
    role: str


@dataclass
class DocumentUpload:
    file: UploadFile


@dataclass
class UploadAccepted:
    id: uuid.UUID
    status: str
    version: int
    action: str


@dataclass
class DocumentOut:
    id: uuid.UUID
    title: str
    filename: str
    source_type: str
    status: str
    chunk_count: int
    error: str | None
    version: int
    size_bytes: int
    created_at: datetime
    updated_at: datetime
    processed_at: datetime | None

    @classmethod
    def of(cls, d: Document) -> DocumentOut:
        return cls(d.id, d.title, d.filename, d.source_type, d.status, d.chunk_count, d.error, d.version,
                   d.size_bytes, d.created_at, d.updated_at, d.processed_at)


@dataclass
class DocumentPage:
    items: list[DocumentOut]
    total: int
    limit: int
    offset: int


@dataclass
class SearchRequest:
    query: str
    top_k: int = 5


@dataclass
class SearchHit:
    chunk_id: int
    document_id: uuid.UUID
    source_ref: str | None
    text: str
    score: float
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass
class SearchResponse:
    hits: list[SearchHit]
