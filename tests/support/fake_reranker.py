"""A local cross-encoder server speaking the `/rerank` API (Cohere/Jina shape and TEI shape).

It scores each passage by the share of the query's words it contains, plus a bonus for passages
containing one of the `favour` strings a test sets (so a test can make it disagree with the fused
order), and answers in the shape the request asked for: `{"results": [{index, relevance_score}]}`
for a `documents` request, `[{index, score}]` for a TEI `texts` request. `mode` scripts failures:
"ok", "error" (HTTP 500), "slow" (answers after `delay` seconds), "garbage" (a reply that is not a
ranking). Every request body is kept in `requests`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

WORD = re.compile(r"\w+")
# A small delivery FAQ whose rows the fake can be told to reorder (the reranker tests share it).
DELIVERY_FAQ = [("D1", "How long does delivery take?", "Delivery takes two to four working days."),
                ("D2", "Do you deliver on weekends?", "Parcels also leave on Saturdays; delivery is faster in cities."),
                ("R1", "What is your return policy?", "Unopened items can be returned within 14 days."),
                ("P1", "Which payment methods do you accept?", "Cards, Alipay and WeChat Pay.")]
DELIVERY_QUESTION = "How long does delivery take?"


@dataclass
class FakeReranker:
    favour: list[str] = field(default_factory=list)
    mode: str = "ok"
    delay: float = 3.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/rerank"

    def score(self, query: str, text: str) -> float:
        words = set(WORD.findall(query.lower()))
        shared = len(words & set(WORD.findall(text.lower()))) / max(1, len(words))
        bonus = 0.5 if any(f in text for f in self.favour) else 0.0
        return round(min(1.0, 0.4 * shared + bonus + 0.05), 4)

    def start(self) -> FakeReranker:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                fake.requests.append({**body, "authorization": self.headers.get("Authorization")})
                if fake.mode == "error":
                    return self._send(500, {"error": "model crashed"})
                if fake.mode == "slow":
                    time.sleep(fake.delay)
                passages = body.get("documents") or body.get("texts") or []
                scored = sorted(((i, fake.score(body["query"], p)) for i, p in enumerate(passages)),
                                key=lambda pair: -pair[1])
                if fake.mode == "garbage":
                    return self._send(200, {"results": [{"index": 99, "relevance_score": "high"}]})
                if "texts" in body:
                    return self._send(200, [{"index": i, "score": s} for i, s in scored])
                top = scored[: body.get("top_n") or len(scored)]
                return self._send(200, {"results": [{"index": i, "relevance_score": s} for i, s in top]})

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def fake_reranker() -> Iterator[FakeReranker]:
    server = FakeReranker().start()
    yield server
    server.stop()


@pytest.fixture
async def delivery_shop(client, tenant, stub_worker):
    """The test tenant with DELIVERY_FAQ uploaded and indexed."""
    from tests.factories import qa_csv

    assert (await client.post("/api/v1/documents", headers=tenant.admin,
                              files={"file": ("faq.csv", qa_csv(DELIVERY_FAQ))})).status_code == 202
    stub_worker()
    return tenant
