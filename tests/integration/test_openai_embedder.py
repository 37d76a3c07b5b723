"""The `openai` embedder through the real openai client against a local OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from core.settings import get_settings
from knowledge import embedding


class _EmbeddingsServer(BaseHTTPRequestHandler):
    calls: list[dict] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self._send(429, {"error": {"message": "slow down", "type": "rate_limit"}})
            return
        data = []
        size = body.get("dimensions", 1536)  # a model's own size when the client does not ask for one
        for index, text in enumerate(body["input"]):
            vector = np.zeros(size) + 0.01
            vector[len(text) % size] = 3.0  # unnormalised on purpose
            data.append({"object": "embedding", "index": index, "embedding": vector.tolist()})
        self._send(200, {"object": "list", "data": list(reversed(data)), "model": body["model"],
                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def _send(self, status: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def openai_server(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmbeddingsServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("KEFU_EMBEDDER", "openai")
    monkeypatch.setenv("KEFU_OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("KEFU_OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    get_settings.cache_clear()
    embedding._embedder.cache_clear()
    _EmbeddingsServer.calls = []
    yield _EmbeddingsServer
    server.shutdown()
    monkeypatch.undo()
    get_settings.cache_clear()
    embedding._embedder.cache_clear()


def test_batches_requests_384_dims_in_order_and_normalises(openai_server) -> None:
    embedder = embedding.get_embedder()
    texts = [f"text {'x' * i}" for i in range(300)]
    vectors = embedder.embed_passages(texts)
    assert vectors.shape == (300, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [len(c["input"]) for c in openai_server.calls] == [256, 44]
    assert {c["dimensions"] for c in openai_server.calls} == {384}
    assert {c["model"] for c in openai_server.calls} == {"text-embedding-3-small"}
    # results are put back in input order even though the server answered reversed
    assert int(np.argmax(vectors[5])) == len(texts[5]) % 384


def test_retries_after_429(openai_server) -> None:
    openai_server.fail_first = 2
    vector = embedding.get_embedder().embed_query("hello")
    assert vector.shape == (384,)
    assert len(openai_server.calls) == 3


def test_a_configured_model_and_dimension_are_asked_for(openai_server) -> None:
    vectors = embedding.OpenAIEmbedder("bge-m3", 1024).embed_passages(["a", "bb"])
    assert vectors.shape == (2, 1024)
    assert (openai_server.calls[-1]["model"], openai_server.calls[-1]["dimensions"]) == ("bge-m3", 1024)


def test_vectors_of_another_size_than_configured_are_refused(openai_server, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "openai_embedding_send_dimensions", False)
    with pytest.raises(ValueError, match="returned 1536 dimensions for model fixed-size, not the 256 configured"):
        embedding.OpenAIEmbedder("fixed-size", 256).embed_query("hello")
    assert "dimensions" not in openai_server.calls[-1]


async def test_a_tenant_is_reembedded_through_an_openai_compatible_endpoint(
        openai_server, client, tenant, stub_worker) -> None:
    from sqlalchemy import text

    from core.db import tenant_session_sync
    from knowledge import commands
    from knowledge.retrieval import retrieve_sync
    from tests.factories import qa_csv

    rows = [(str(i), f"question {'x' * i}", f"answer {i}") for i in range(12)]
    response = await client.post("/api/v1/documents", headers=tenant.admin, files={"file": ("faq.csv", qa_csv(rows))})
    assert response.status_code == 202
    stub_worker()
    assert {c["model"] for c in openai_server.calls} == {"text-embedding-3-small"}  # adopted the configured one
    openai_server.calls = []
    job = commands.reembed_knowledge(tenant.id, "openai:bge-m3:256", inline=True)
    assert job.status == "done" and job.previous == "openai:text-embedding-3-small:384"
    assert {(c["model"], c["dimensions"]) for c in openai_server.calls} == {("bge-m3", 256)}
    with tenant_session_sync(tenant.id) as session:
        dims = set(session.scalars(text("SELECT DISTINCT vector_dims(embedding) FROM chunks")))
    assert dims == {256}
    assert retrieve_sync(tenant.id, "question xxx", 3)
    assert openai_server.calls[-1]["model"] == "bge-m3"  # the query, embedded with the tenant's new embedder
