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
    # A cross-encoder reordered it (knowledge.reranker): `relevance` is its score, `curve` the
    # (centre, scale) fitted for that reranker. With a curve `score` is the relevance; without one
    # `score` stays the fused score and the fused curve gives the confidence.
    reranked: bool = False
    relevance: float | None = None
    curve: tuple[float, float] | None = None
