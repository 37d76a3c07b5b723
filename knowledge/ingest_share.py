"""How much ingestion one worker process and one tenant may run at once, so chat and other tenants keep flowing.

Indexing a large document keeps a worker thread (and the embedder's cores) busy for minutes. Two
limits keep that from crowding out everything else:

- **per worker process**, at most `KEFU_INGEST_SLOTS_PER_WORKER` (default 1) documents index at
  once, so with `kefu worker`'s two threads one is always free for answers (`chat` queue), which
  also outrank ingestion in the worker's local queue (actor priority);
- **per tenant**, across every worker, at most `KEFU_INGEST_TENANT_SHARE` (default 1) of its
  documents index at once (a Redis sorted set of holders with expiry times, renewed with the
  document's lease), so one tenant's batch of big PDFs does not hold every worker while another
  tenant's upload waits.

A job that finds no room is sent again `WAIT_MS` later without claiming its document (it stays
`queued`) and gives its thread back at once. Redis unreachable: the tenant share is not enforced.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import redis

from core.redis import sync_redis
from core.settings import get_settings

log = logging.getLogger(__name__)
WAIT_MS = 2_000
_settings = get_settings()
_PROCESS_SLOTS = threading.BoundedSemaphore(_settings.ingest_slots_per_worker)
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    return 1
end
return 0
"""


def _key(tenant_id: uuid.UUID) -> str:
    return f"kefu:ingest:share:{tenant_id}"


def take_process_slot() -> bool:
    return _PROCESS_SLOTS.acquire(blocking=False)


def release_process_slot() -> None:
    _PROCESS_SLOTS.release()


def take_tenant_share(tenant_id: uuid.UUID, document_id: uuid.UUID, hold_seconds: float) -> bool:
    """Hold one of the tenant's ingestion places for `hold_seconds` (renew with `renew_tenant_share`)."""
    now = time.time()
    try:
        taken = sync_redis().eval(_ACQUIRE, 1, _key(tenant_id), now, now + hold_seconds, str(document_id),
                                  get_settings().ingest_tenant_share, int(hold_seconds) + 60)
    except redis.RedisError:
        log.warning("redis unavailable; the tenant's share of ingestion is not enforced")
        return True
    return bool(taken)


def renew_tenant_share(tenant_id: uuid.UUID, document_id: uuid.UUID, hold_seconds: float) -> None:
    try:
        pipe = sync_redis().pipeline()
        pipe.zadd(_key(tenant_id), {str(document_id): time.time() + hold_seconds}, xx=True)
        pipe.expire(_key(tenant_id), int(hold_seconds) + 60)  # the set outlives its longest hold
        pipe.execute()
    except redis.RedisError:
        log.warning("redis unavailable; could not renew a tenant's ingestion place")


def release_tenant_share(tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
    try:
        sync_redis().zrem(_key(tenant_id), str(document_id))
    except redis.RedisError:
        log.warning("redis unavailable; a tenant's ingestion place is freed when it expires")
