"""An optional cross-encoder that reorders the fused candidates (off unless `KEFU_RERANK_URL` is set).

The endpoint speaks the `/rerank` API that Hugging Face TEI, Jina, Cohere, Infinity and vLLM
serve (`KEFU_RERANK_API`): `cohere` sends `{model, query, documents, top_n}` and reads
`{"results": [{"index", "relevance_score"}]}` (Jina, Cohere, Infinity, vLLM); `tei` sends
`{query, texts, raw_scores: false}` and reads `[{"index", "score"}]`. Retrieval asks it about its
best `KEFU_RERANK_TOP_N` fused candidates and keeps the top_k it puts first.

A reranked hit's `score` is the cross-encoder's relevance (0-1 on these APIs) and `reranked` is
set, so `knowledge.confidence` maps it with the reranker's own logistic curve
(`KEFU_RERANK_CONFIDENCE_CENTRE` / `_SCALE`), which must be refitted for each reranker model:
`bench/rerank_calibration.py` fits it on a labelled question set (docs/retrieval.md).

Any failure (timeout, HTTP error, a reply that does not cover the candidates) keeps the fused
order: the reranker can make answers better, never make search fail.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import httpx

from core.settings import Settings, get_settings
from knowledge.hits import Hit

log = logging.getLogger(__name__)
MAX_TEXT_CHARS = 2000  # a passage longer than a cross-encoder's window gains nothing from more


def enabled(app: Settings | None = None) -> bool:
    return bool((app or get_settings()).rerank_url)


def pool_size(top_k: int, app: Settings | None = None) -> int:
    """How many fused candidates retrieval should gather: the reranker's pool when it is on."""
    app = app or get_settings()
    return max(top_k, app.rerank_top_n) if enabled(app) else top_k


def request_body(query: str, hits: list[Hit], app: Settings) -> dict[str, Any]:
    texts = [hit.text[:MAX_TEXT_CHARS] for hit in hits]
    if app.rerank_api == "tei":
        return {"query": query, "texts": texts, "raw_scores": False, "truncate": True}
    body: dict[str, Any] = {"query": query, "documents": texts, "top_n": len(texts)}
    if app.rerank_model:
        body["model"] = app.rerank_model
    return body


def reordered(hits: list[Hit], reply: Any, top_k: int) -> list[Hit]:
    """The hits in the reranker's order with its scores; ValueError for a reply that is not a ranking of them."""
    items = reply.get("results") if isinstance(reply, dict) else reply
    if not isinstance(items, list):
        raise ValueError("the reply has no list of results")
    scores: dict[int, float] = {}
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        score = item.get("relevance_score", item.get("score")) if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < len(hits) or not isinstance(score, int | float):
            raise ValueError(f"a result is not {{index, score}} of a sent passage: {item!r}"[:200])
        scores[index] = float(score)
    if len(scores) < min(len(hits), top_k):
        raise ValueError(f"the reply ranks {len(scores)} of {len(hits)} passages")
    order = sorted(scores, key=lambda i: (-scores[i], i))
    return [replace(hits[i], score=scores[i], reranked=True) for i in order][:top_k]


def _headers(app: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.rerank_api_key}"} if app.rerank_api_key else {}


def _fallback(hits: list[Hit], top_k: int, exc: Exception) -> list[Hit]:
    log.warning("reranker failed (%s: %s); keeping the fused order", type(exc).__name__, str(exc)[:200])
    return hits[:top_k]


async def rerank(query: str, hits: list[Hit], top_k: int) -> list[Hit]:
    """`hits` reordered by the cross-encoder (the best `top_k`); the fused order if it is off or fails."""
    app = get_settings()
    if not app.rerank_url or len(hits) < 2:
        return hits[:top_k]
    try:
        async with httpx.AsyncClient(timeout=app.rerank_timeout_seconds) as client:
            response = await client.post(app.rerank_url, json=request_body(query, hits, app), headers=_headers(app))
            response.raise_for_status()
            return reordered(hits, response.json(), top_k)
    except (httpx.HTTPError, ValueError) as exc:
        return _fallback(hits, top_k, exc)


def rerank_sync(query: str, hits: list[Hit], top_k: int) -> list[Hit]:
    app = get_settings()
    if not app.rerank_url or len(hits) < 2:
        return hits[:top_k]
    try:
        with httpx.Client(timeout=app.rerank_timeout_seconds) as client:
            response = client.post(app.rerank_url, json=request_body(query, hits, app), headers=_headers(app))
            response.raise_for_status()
            return reordered(hits, response.json(), top_k)
    except (httpx.HTTPError, ValueError) as exc:
        return _fallback(hits, top_k, exc)
