"""A search result: one chunk with its fused score and the parts the score was made of."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: uuid.UUID
    source_ref: str | None
    text: str
    score: float
    dense: float
    lexical: float
    metadata: dict[str, Any] = field(default_factory=dict)
    overlap: float = 0.0
    centred: float | None = None  # cos(q - μ, s - μ), the dense part of `score` when centring is on
    reranked: bool = False  # `score` is a cross-encoder's relevance (knowledge.reranker), not the fused score
