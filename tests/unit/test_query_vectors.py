"""The query-vector cache and batcher of the async retrieval path (knowledge.retrieval._QueryVectors)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from knowledge import retrieval
from knowledge.embedding import HashEmbedder


class CountingEmbedder(HashEmbedder):
    """The hash embedder, recording each call and holding the first one until released."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []
        self.release = threading.Event()

    def embed_query(self, text: str) -> np.ndarray:
        self.calls.append([text])
        self.release.wait(5)
        return super().embed_query(text)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return super().embed_queries(texts)


@pytest.fixture
def embedder(monkeypatch) -> CountingEmbedder:
    fake = CountingEmbedder()
    monkeypatch.setattr(retrieval, "build", lambda spec: fake)
    return fake


async def test_queries_arriving_during_an_embedding_share_the_next_batch(embedder) -> None:
    vectors = retrieval._QueryVectors()
    first = asyncio.create_task(vectors.aget("how long is shipping"))
    await asyncio.sleep(0.05)  # the lone first query is being embedded on its own
    later = [asyncio.create_task(vectors.aget(q)) for q in ("refund?", "invoice?", "refund?", "opening hours")]
    await asyncio.sleep(0.05)
    embedder.release.set()
    results = await asyncio.gather(first, *later)
    assert embedder.calls == [["how long is shipping"], ["refund?", "invoice?", "opening hours"]]
    reference = HashEmbedder()
    for query, vector in zip(["how long is shipping", "refund?", "invoice?", "refund?", "opening hours"], results,
                             strict=True):
        assert np.allclose(vector, reference.embed_query(query))
    # cached now: no further embedding, on either path
    assert np.allclose(await vectors.aget("invoice?"), results[2])
    assert np.allclose(vectors.get("refund?"), results[1])
    assert len(embedder.calls) == 2


async def test_a_failed_batch_fails_its_askers_and_the_next_query_is_embedded_again(embedder, monkeypatch) -> None:
    vectors = retrieval._QueryVectors()
    embedder.release.set()

    def broken(texts: list[str]) -> np.ndarray:
        raise RuntimeError("model not loaded")

    monkeypatch.setattr(embedder, "embed_query", lambda text: broken([text]))
    with pytest.raises(RuntimeError, match="model not loaded"):
        await vectors.aget("anything")
    monkeypatch.undo()
    monkeypatch.setattr(retrieval, "build", lambda spec: embedder)
    assert np.allclose(await vectors.aget("anything"), HashEmbedder().embed_query("anything"))
