"""Request and response bodies of the public API (msgspec-free dataclasses, documented in OpenAPI)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    source_id: uuid.UUID | None = None  # set for a page of a website source
    url: str | None = None

    @classmethod
    def of(cls, d: Document) -> DocumentOut:
        return cls(d.id, d.title, d.filename, d.source_type, d.status, d.chunk_count, d.error, d.version,
                   d.size_bytes, d.created_at, d.updated_at, d.processed_at, d.source_id, d.url)


@dataclass
class DocumentPage:
    items: list[DocumentOut]
    total: int
    limit: int
    offset: int


@dataclass
class FaqRowOut:
    """One row of an uploaded FAQ as answers use it; `file_*` is the uploaded file's own text."""

    source_ref: str
    question: str
    answer: str
    state: str  # file | edited | disabled
    file_question: str | None
    file_answer: str | None
    file_changed: bool
    updated_at: datetime | None
    similar_questions: list[str]  # other wordings of the question, matched like it

    @classmethod
    def of(cls, row: Any) -> FaqRowOut:
        return cls(row.source_ref, row.question, row.answer, row.state, row.file_question, row.file_answer,
                   row.file_changed, row.updated_at, list(row.similar_questions))


@dataclass
class FaqRowPage:
    items: list[FaqRowOut]
    total: int
    limit: int
    offset: int


@dataclass
class FaqRowChange:
    """Edit a row (question and answer together), set its similar questions, and/or disable or enable
    it; kept across re-uploads."""

    source_ref: str
    question: str | None = None
    answer: str | None = None
    disabled: bool | None = None
    similar_questions: list[str] | None = None  # replaces the row's list ([] removes them all)


@dataclass
class PhrasingSuggestionOut:
    """A customer's wording that could become a similar question of the row it belongs to."""

    question: str
    document_id: uuid.UUID
    source_ref: str
    row_question: str
    origin: str  # gap (an unanswered or rated-down question) | chosen (a "did you mean" choice) | agent
    asked_at: datetime
    times: int

    @classmethod
    def of(cls, s: Any) -> PhrasingSuggestionOut:
        return cls(s.phrasing, s.document_id, s.source_ref, s.row_question, s.origin, s.asked_at, s.times)


@dataclass
class PhrasingSuggestionPage:
    items: list[PhrasingSuggestionOut]


@dataclass
class PhrasingChoice:
    """A suggested wording and the row it is for."""

    document_id: uuid.UUID
    source_ref: str
    question: str


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
