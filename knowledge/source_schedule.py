"""The worker's loop for website sources: start due re-syncs, send again the ones whose job was lost.

Every `TICK_SECONDS`, one pass (as the owning role: it looks across tenants, and reads only ids):
- sources on a daily or weekly schedule whose `next_sync_at` has passed, and that are not already
  queued or crawling, are put on a new run and their `sync_source` job is sent;
- a source `queued` or `crawling` whose row has not moved for `crawl_stale_after_seconds` (its job
  was lost, or its worker died mid-crawl; a running sync writes progress every few pages) has the
  same run's job sent again; the run restarts, and pages already done cost only a conditional fetch.
A Redis key per source (`SET NX EX`) sends each at most once per period across worker replicas.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import text

from core.db import owner_engine
from core.periodic import start_every
from core.redis import sync_redis
from core.settings import get_settings

log = logging.getLogger(__name__)

TICK_SECONDS = 60
BATCH = 200
MARK = "kefu:sources:sent:{}:{}"

_START_DUE = text(
    "UPDATE sources SET status = 'queued', run_id = gen_random_uuid(), error = NULL, updated_at = now() "
    "WHERE id IN (SELECT id FROM sources WHERE schedule <> 'off' AND next_sync_at <= now() "
    "             AND status NOT IN ('queued', 'crawling') ORDER BY next_sync_at LIMIT :limit "
    "             FOR UPDATE SKIP LOCKED) "
    "RETURNING tenant_id::text, id::text, run_id::text"
)
_STALE = text(
    "SELECT tenant_id::text, id::text, run_id::text FROM sources "
    "WHERE status IN ('queued', 'crawling') AND updated_at < now() - make_interval(secs => :after) "
    "ORDER BY updated_at LIMIT :limit"
)


@dataclass
class SchedulePass:
    started: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.started or self.resent)


def run_due() -> SchedulePass:
    """One pass: send the syncs that are due and those whose job was lost."""
    from knowledge.tasks import sync_source

    after = get_settings().crawl_stale_after_seconds
    with owner_engine().begin() as connection:
        due = connection.execute(_START_DUE, {"limit": BATCH}).all()
        stale = connection.execute(_STALE, {"after": after, "limit": BATCH}).all()
    result = SchedulePass()
    client = sync_redis()
    for tenant_id, source_id, run_id in due:
        client.set(MARK.format(source_id, run_id), "1", ex=max(1, int(after)))
        sync_source.send(tenant_id, source_id, run_id)
        result.started.append(source_id)
    for tenant_id, source_id, run_id in stale:
        if client.set(MARK.format(source_id, run_id), "1", nx=True, ex=max(1, int(after))):
            sync_source.send(tenant_id, source_id, run_id)
            result.resent.append(source_id)
    return result


def _run_and_log() -> None:
    result = run_due()
    if result:
        log.info("source syncs sent", extra={"started": len(result.started), "resent": len(result.resent)})


def start_in_background() -> threading.Event:
    """Run the pass every TICK_SECONDS in a daemon thread (not under KEFU_ENV=test); set the event to stop."""
    return start_every(TICK_SECONDS, _run_and_log, thread="source-schedule", in_tests=False,
                       failure="source schedule pass failed")

