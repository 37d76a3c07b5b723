"""An optional cross-encoder that reorders the fused candidates: the operator's (`KEFU_RERANK_URL`) or a tenant's own.

The endpoint speaks the `/rerank` API that Hugging Face TEI, Jina, Cohere, Infinity and vLLM
serve (`api`): `cohere` sends `{model, query, documents, top_n}` and reads
`{"results": [{"index", "relevance_score"}]}` (Jina, Cohere, Infinity, vLLM); `tei` sends
`{query, texts, raw_scores: false}` and reads `[{"index", "score"}]`. Retrieval asks it about its
best `KEFU_RERANK_TOP_N` fused candidates and keeps the top_k it puts first.

Which reranker a tenant's searches use (`resolve`): none when the tenant turned `reranker` off;
its own endpoint when it set `reranker_url` (knowledge.reranker_settings; the URL is checked by the
SSRF guard at each call); else the operator's, off unless `KEFU_RERANK_URL` is set.

A reranked hit carries the cross-encoder's relevance (`relevance`, 0-1 on these APIs) and
`reranked`. Its confidence (knowledge.confidence) needs a curve fitted for that reranker model
(`bench/rerank_calibration.py`): the operator's is `KEFU_RERANK_CONFIDENCE_CENTRE` / `_SCALE`; a
tenant's own reranker uses the `reranker_confidence_centre` / `_scale` it saved from the same
script run on its labelled questions. A tenant reranker without a fitted curve only reorders: its
hits keep their fused scores, so the answer gate stays on the fused score's calibrated curve.

Any failure (timeout, HTTP error, a reply that does not cover the candidates, a refused address)
keeps the fused order: the reranker can make answers better, never make search fail.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from core.outbound import UnsafeDestinationError, guarded_client
from core.settings import Settings, get_settings
from knowledge.hits import Hit
from knowledge.reranker_settings import RerankerSettings

log = logging.getLogger(__name__)
MAX_TEXT_CHARS = 2000  # a passage longer than a cross-encoder's window gains nothing from more


@dataclass(frozen=True)
class Reranker:
    """One `/rerank` endpoint as a search calls it."""

    url: str
    api: str = "cohere"
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    # (centre, scale) of the curve from its top score to the confidence; None: not fitted (reorder only).
    curve: tuple[float, float] | None = None
    tenant_url: bool = False  # the tenant chose the URL: the SSRF guard checks it at each call
    top_n: int = 20
    timeout: float = 2.0

    @property
    def fingerprint(self) -> str:
        """What changes the ranking (never the key): part of the cached answers' key."""
        raw = f"{self.url}|{self.api}|{self.model}|{self.curve}|{self.top_n}"
        return hashlib.sha256(raw.encode()).hexdigest()[:12]


def operator(app: Settings | None = None) -> Reranker | None:
    """The operator's reranker (KEFU_RERANK_*), or None when it is not configured."""
    app = app or get_settings()
    if not app.rerank_url:
        return None
    return Reranker(app.rerank_url, app.rerank_api, app.rerank_model, app.rerank_api_key,
                    (app.rerank_confidence_centre, app.rerank_confidence_scale),
                    top_n=app.rerank_top_n, timeout=app.rerank_timeout_seconds)


def resolve(settings: RerankerSettings | None, app: Settings | None = None) -> Reranker | None:
    """The reranker a tenant's searches use: off, its own endpoint, or the operator's."""
    app = app or get_settings()
    if settings is None:
        return operator(app)
    if not settings.enabled:
        return None
    if not settings.url:
        return operator(app)
    curve = (None if settings.confidence_centre is None or settings.confidence_scale is None
             else (settings.confidence_centre, settings.confidence_scale))
    return Reranker(settings.url, settings.api, settings.model, settings.api_key, curve, tenant_url=True,
                    top_n=app.rerank_top_n, timeout=app.rerank_timeout_seconds)


def fingerprint(ranker: Reranker | None) -> str:
    return ranker.fingerprint if ranker is not None else "none"


def enabled(app: Settings | None = None) -> bool:
    """Whether the operator's reranker is configured."""
    return bool((app or get_settings()).rerank_url)


def pool_size(top_k: int, ranker: Reranker | None) -> int:
    """How many fused candidates retrieval should gather: the reranker's pool when there is one."""
    return max(top_k, ranker.top_n) if ranker is not None else top_k


def request_body(query: str, hits: list[Hit], ranker: Reranker) -> dict[str, Any]:
    return _body(query, [hit.text[:MAX_TEXT_CHARS] for hit in hits], ranker)


def _body(query: str, texts: list[str], ranker: Reranker) -> dict[str, Any]:
    if ranker.api == "tei":
        return {"query": query, "texts": texts, "raw_scores": False, "truncate": True}
    body: dict[str, Any] = {"query": query, "documents": texts, "top_n": len(texts)}
    if ranker.model:
        body["model"] = ranker.model
    return body


def scores_of(reply: Any, sent: int) -> dict[int, float]:
    """index → relevance from a `/rerank` reply; ValueError for a reply that is not a ranking of the sent passages."""
    items = reply.get("results") if isinstance(reply, dict) else reply
    if not isinstance(items, list):
        raise ValueError("the reply has no list of results")
    scores: dict[int, float] = {}
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        score = item.get("relevance_score", item.get("score")) if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < sent or not isinstance(score, int | float) \
                or isinstance(score, bool):
            raise ValueError(f"a result is not {{index, score}} of a sent passage: {item!r}"[:200])
        scores[index] = float(score)
    return scores


def reordered(hits: list[Hit], reply: Any, top_k: int, curve: tuple[float, float] | None = (0.5, 0.1)) -> list[Hit]:
    """The hits in the reranker's order; ValueError for a reply that is not a ranking of them.

    With a fitted `curve` a hit's score becomes the reranker's relevance (mapped by that curve);
    without one it keeps its fused score (mapped by the fused curve) and only the order changes.
    """
    scores = scores_of(reply, len(hits))
    if len(scores) < min(len(hits), top_k):
        raise ValueError(f"the reply ranks {len(scores)} of {len(hits)} passages")
    order = sorted(scores, key=lambda i: (-scores[i], i))
    return [replace(hits[i], score=scores[i] if curve else hits[i].score, reranked=True, relevance=scores[i],
                    curve=curve) for i in order][:top_k]


def _headers(ranker: Reranker) -> dict[str, str]:
    return {"Authorization": f"Bearer {ranker.api_key}"} if ranker.api_key else {}


def _fallback(hits: list[Hit], top_k: int, exc: Exception) -> list[Hit]:
    log.warning("reranker failed (%s: %s); keeping the fused order", type(exc).__name__, str(exc)[:200])
    return hits[:top_k]


async def _post(ranker: Reranker, body: dict[str, Any]) -> Any:
    """The endpoint's JSON reply; a tenant's URL only at addresses the SSRF guard allows now."""
    if ranker.tenant_url:
        client = await guarded_client(httpx.URL(ranker.url), timeout=ranker.timeout,
                                      allow_private=get_settings().llm_allow_private_hosts)
    else:
        client = httpx.AsyncClient(timeout=ranker.timeout)
    async with client:
        response = await client.post(ranker.url, json=body, headers=_headers(ranker))
        response.raise_for_status()
        return response.json()


async def rerank(query: str, hits: list[Hit], top_k: int, ranker: Reranker | None) -> list[Hit]:
    """`hits` reordered by the cross-encoder (the best `top_k`); the fused order if there is none or it fails."""
    if ranker is None or len(hits) < 2:
        return hits[:top_k]
    try:
        return reordered(hits, await _post(ranker, request_body(query, hits, ranker)), top_k, ranker.curve)
    except (httpx.HTTPError, ValueError, UnsafeDestinationError) as exc:
        return _fallback(hits, top_k, exc)


def rerank_sync(query: str, hits: list[Hit], top_k: int, ranker: Reranker | None) -> list[Hit]:
    if ranker is None or len(hits) < 2:
        return hits[:top_k]
    if ranker.tenant_url:  # through the guarded (pinned) client, in an event loop of its own
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(rerank(query, hits, top_k, ranker))
        # A sync caller on a thread that runs a loop (a test, a sync helper in async code): another thread.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, rerank(query, hits, top_k, ranker)).result()
    try:
        with httpx.Client(timeout=ranker.timeout) as client:
            response = client.post(ranker.url, json=request_body(query, hits, ranker), headers=_headers(ranker))
            response.raise_for_status()
            return reordered(hits, response.json(), top_k, ranker.curve)
    except (httpx.HTTPError, ValueError) as exc:
        return _fallback(hits, top_k, exc)


@dataclass(frozen=True)
class Check:
    """What a test of the endpoint found: ok, the model, how long it took, or what went wrong."""

    ok: bool
    model: str | None
    latency_ms: int
    reply: str = ""
    error: str | None = None


TEST_QUERY = "How long does delivery take?"
TEST_PASSAGES = ("Delivery takes two to four working days.", "Our shop opens at nine in the morning.")


async def check_connection(ranker: Reranker | None) -> Check:
    """Ask the endpoint to rank two short passages: do its URL, key, model and reply shape work?"""
    if ranker is None:
        return Check(False, None, 0, error=NO_RERANKER)
    started = time.perf_counter()
    try:
        scores = scores_of(await _post(ranker, _body(TEST_QUERY, list(TEST_PASSAGES), ranker)), len(TEST_PASSAGES))
        if len(scores) < len(TEST_PASSAGES):
            raise ValueError(f"the reply ranks {len(scores)} of {len(TEST_PASSAGES)} passages")
    except UnsafeDestinationError as exc:
        error = f"The endpoint is refused: {exc}."
    except httpx.HTTPStatusError as exc:
        error = f"The endpoint answered HTTP {exc.response.status_code}: {_reason(exc.response)}."
    except httpx.TimeoutException:
        error = f"The endpoint did not answer within {ranker.timeout:g} s."
    except httpx.HTTPError as exc:
        error = f"The endpoint cannot be reached: {exc}."
    except ValueError as exc:
        error = f"The endpoint's reply is not a /rerank ranking: {exc}."
    else:
        ms = int((time.perf_counter() - started) * 1000)
        return Check(True, ranker.model, ms, ", ".join(f"{scores[i]:.3f}" for i in sorted(scores)))
    return Check(False, ranker.model, int((time.perf_counter() - started) * 1000), error=error)


NO_RERANKER = ("No reranker is configured: enter a /rerank endpoint here, or ask the operator to set "
               "KEFU_RERANK_URL.")


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    inner = body.get("error", body) if isinstance(body, dict) else body
    message = inner.get("message", inner.get("error")) if isinstance(inner, dict) else inner
    return str(message)[:200] if message else response.reason_phrase
