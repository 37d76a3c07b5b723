"""Analytics at scale: one tenant with 100,000 conversations and 1,000,000 messages.

Generates the tenant in SQL (`generate_series`, as the owning role — seconds, not hours), refreshes
its daily rollups, then times, as the restricted app role with row-level security:
- the overview page's data (overview + daily_trend + peak_hours) for the last 30 and 90 days
  (target ≤ 1.5 s);
- a Parquet export of every message (target ≤ 20 s), with peak memory: the process's max RSS
  growth and pyarrow's peak allocation.
A small second tenant is generated too, so RLS and the tenant filter have something to exclude.

    .venv/bin/python bench/analytics.py [--data-dir DIR] [--conversations 100000] [--keep]

The data directory (embedded PostgreSQL) is reused between runs when it already holds the tenant.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DAYS = 90
MESSAGES_PER_CONVERSATION = 10

_CONVERSATIONS_SQL = """
INSERT INTO conversations (id, tenant_id, visitor_id, channel, language, started_at, last_message_at, ended_at,
                           handoff, handoff_at, csat, message_count)
SELECT gen_random_uuid(), CAST(:tenant_id AS uuid), 'visitor-' || (g * 7 % (:n / 3 + 1)), 'widget',
       CASE WHEN g % 3 = 0 THEN 'zh' ELSE 'en' END, s.at, s.at + interval '3 minutes', s.at + interval '4 minutes',
       g % 17 = 0, CASE WHEN g % 17 = 0 THEN s.at + interval '2 minutes' END,
       CASE WHEN g % 4 = 0 THEN 1 + (g * 13 % 5) END, :per
FROM generate_series(1, :n) AS g,
     LATERAL (SELECT CAST(:end AS timestamptz) - ((g::bigint * 7919) % (:days * 86400)) * interval '1 second'
              AS at) AS s
"""

_MESSAGES_SQL = """
INSERT INTO messages (id, tenant_id, conversation_id, role, status, text, language, citations, confidence, answered,
                      handoff, fallback_reason, tool_calls, provider, model, latency_ms, prompt_tokens,
                      completion_tokens, created_at)
SELECT gen_random_uuid(), c.tenant_id, c.id, CASE WHEN k % 2 = 0 THEN 'customer' ELSE 'assistant' END, 'answered',
       CASE WHEN k % 2 = 0 THEN 'Question ' || k || ' about order ' || (h % 5000) || ': where is my parcel?'
            ELSE 'Your parcel ' || (h % 5000) || ' ships within 2 days. See the shipping FAQ for details.' END,
       c.language,
       CASE WHEN k % 2 = 1 THEN '[{"document_id": "d1", "chunk_id": "k1", "source_ref": "faq-12"}]'::jsonb
            ELSE '[]'::jsonb END,
       CASE WHEN k % 2 = 1 THEN (h % 100) / 100.0 END,
       CASE WHEN k % 2 = 1 THEN h % 10 <> 0 END, false,
       CASE WHEN k % 2 = 1 AND h % 10 = 0 THEN 'low_confidence' END, '[]'::jsonb,
       CASE WHEN k % 2 = 1 THEN 'openai' END, CASE WHEN k % 2 = 1 THEN 'gpt-4o-mini' END,
       CASE WHEN k % 2 = 1 THEN 200 + h % 1800 END,
       CASE WHEN k % 2 = 1 THEN 800 + h % 400 ELSE 0 END, CASE WHEN k % 2 = 1 THEN 120 + h % 80 ELSE 0 END,
       c.started_at + k * interval '20 seconds'
FROM conversations c CROSS JOIN generate_series(0, :per - 1) AS k,
     LATERAL (SELECT abs(hashtext(c.id::text || k)) AS h) AS x
WHERE c.tenant_id = CAST(:tenant_id AS uuid)
"""

_FEEDBACK_SQL = """
INSERT INTO feedback (id, tenant_id, message_id, conversation_id, rating, created_at)
SELECT gen_random_uuid(), m.tenant_id, m.id, m.conversation_id,
       CASE WHEN m.answered THEN 1 ELSE -1 END, m.created_at + interval '10 seconds'
FROM messages m
WHERE m.tenant_id = CAST(:tenant_id AS uuid) AND m.role = 'assistant' AND abs(hashtext(m.id::text)) % 10 = 0
"""


def _setup(data_dir: Path) -> None:
    os.environ.update({"KEFU_DATA_DIR": str(data_dir), "KEFU_ENV": "development", "KEFU_EMBEDDER": "hash"})
    for name in ("KEFU_DATABASE_URL", "KEFU_APP_DATABASE_URL"):
        os.environ.pop(name, None)
    from core.db import owner_url
    from core.migrations import upgrade

    os.environ["KEFU_DATABASE_URL"] = owner_url().render_as_string(hide_password=False).replace(
        "postgresql+psycopg", "postgresql")
    upgrade()


def _generate(name: str, conversations: int, end: datetime) -> str:
    from sqlalchemy import text

    from core.db import owner_engine
    from core.tenancy import create_tenant

    created = create_tenant(f"{name} {int(time.time())}", f"owner-{time.time_ns()}@bench.example", "password-123")
    params = {"tenant_id": str(created.tenant_id), "n": conversations, "per": MESSAGES_PER_CONVERSATION,
              "end": end, "days": DAYS}
    with owner_engine().begin() as conn:
        for label, sql in (("conversations", _CONVERSATIONS_SQL), ("messages", _MESSAGES_SQL),
                           ("feedback", _FEEDBACK_SQL)):
            started = time.perf_counter()
            rows = conn.execute(text(sql), params).rowcount
            print(f"  {name}: {rows:>9,} {label:<13} in {time.perf_counter() - started:6.1f} s")
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE conversations, messages, feedback"))
    return str(created.tenant_id)


def _timed(fn, repeat: int = 5) -> tuple[float, float]:
    """First (cold) run and the median of the following runs, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times[0], statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "kefu-bench-analytics")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the data directory for the next run")
    args = parser.parse_args()

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures scale with contention)")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    marker = args.data_dir / f"tenant-{args.conversations}.txt"
    _setup(args.data_dir)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if marker.exists():
        tenant_id = marker.read_text().strip()
        print(f"reusing tenant {tenant_id} in {args.data_dir}")
    else:
        print(f"generating {args.conversations:,} conversations × {MESSAGES_PER_CONVERSATION} messages "
              f"over {DAYS} days")
        tenant_id = _generate("Big shop", args.conversations, today)
        _generate("Small shop", 1_000, today)
        marker.write_text(tenant_id)

    from analytics import reports, rollups
    from analytics.exports import write_export
    from analytics.period import Period
    from core.db import tenant_session_sync

    started = time.perf_counter()
    with tenant_session_sync(tenant_id) as session:
        days = rollups.refresh(session, tenant_id, full=True)
    print(f"full rollup refresh: {len(days)} days in {time.perf_counter() - started:.2f} s")
    started = time.perf_counter()
    with tenant_session_sync(tenant_id) as session:
        days = rollups.refresh(session, tenant_id)
    print(f"incremental rollup refresh: {len(days)} days in {time.perf_counter() - started:.2f} s")

    for span in (30, DAYS):
        period = Period.last(span)

        def overview_page(period: Period = period) -> None:
            with tenant_session_sync(tenant_id) as session:
                reports.overview(session, tenant_id, period)
                reports.daily_trend(session, tenant_id, period)
                reports.peak_hours(session, tenant_id, period)

        cold, warm = _timed(overview_page)
        with tenant_session_sync(tenant_id) as session:
            row = reports.overview(session, tenant_id, period).iloc[0]
        print(f"overview page data, last {span} days ({int(row.conversations):,} conversations, "
              f"{int(row.messages):,} messages): first {cold:.3f} s, median {warm:.3f} s (target ≤ 1.5 s)")

    import pyarrow as pa

    out = Path(tempfile.mkdtemp()) / "messages.parquet"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = time.process_time()
    started = time.perf_counter()
    size = write_export(tenant_id, "messages", "parquet", Period.last(DAYS + 1), out)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(out).metadata.num_rows
    print(f"parquet export of all messages: {rows:,} rows, {size / 1e6:.1f} MB in {elapsed:.1f} s (target ≤ 20 s); "
          f"this process used {cpu:.1f} s CPU, the rest is PostgreSQL's scan and COPY")
    print(f"  peak memory: max RSS {rss_before / 1024:.0f} MB before → {rss_after / 1024:.0f} MB after "
          f"(+{(rss_after - rss_before) / 1024:.0f} MB); pyarrow peak allocation "
          f"{pa.default_memory_pool().max_memory() / 1e6:.0f} MB; load average now {os.getloadavg()[0]:.1f}")
    shutil.rmtree(out.parent, ignore_errors=True)

    from core import embedded
    from core.db import dispose_engines

    dispose_engines()
    embedded.shutdown()
    if not args.keep:
        shutil.rmtree(args.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
