"""When analytics jobs run: rollups every minute, knowledge gaps every 6 hours, satisfaction daily.

`run_due()` enqueues whatever is due. A Redis key per job (`SET NX EX interval`) makes a job due at
most once per interval across every process calling it, so each worker replica can run the
schedule loop (`kefu worker` starts it in a background thread) and a job is still enqueued once.
`kefu analytics schedule --once` runs one pass (for cron); retraining on demand is just
`train_satisfaction.send(tenant_id)` (the admin app's "retrain" button).
"""

from __future__ import annotations

import logging
import threading
import time

from core.redis import sync_redis
from core.settings import get_settings

log = logging.getLogger(__name__)

# job name → seconds between runs
INTERVALS = {
    "refresh_rollups": 60,
    "refresh_knowledge_gaps": 6 * 60 * 60,
    "train_satisfaction": 24 * 60 * 60,
}
TICK_SECONDS = 30
KEY = "kefu:analytics:schedule:{}"  # holds the time of the last enqueue, expires after the interval


def run_due() -> list[str]:
    """Enqueue every job whose interval has passed; returns the jobs enqueued."""
    from analytics.tasks import for_every_tenant, refresh_rollups

    client = sync_redis()
    enqueued = []
    for job, interval in INTERVALS.items():
        if not client.set(KEY.format(job), str(time.time()), nx=True, ex=interval):
            continue
        if job == "refresh_rollups":
            refresh_rollups.send()
        else:
            for_every_tenant.send(job)
        enqueued.append(job)
    return enqueued


def run_forever(stop: threading.Event | None = None) -> None:
    """Call `run_due` every TICK_SECONDS until `stop` is set; errors are logged, never fatal."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            jobs = run_due()
            if jobs:
                log.info("analytics jobs enqueued", extra={"jobs": jobs})
        except Exception:
            log.exception("analytics schedule pass failed")
        stop.wait(TICK_SECONDS)


def start_in_background() -> threading.Event:
    """Run the schedule in a daemon thread; set the returned event to stop it.

    Not under KEFU_ENV=test: test workers run only what a test enqueues, so background jobs never
    race the behaviour under test.
    """
    stop = threading.Event()
    if get_settings().env == "test":
        return stop
    threading.Thread(target=run_forever, args=(stop,), name="analytics-schedule", daemon=True).start()
    return stop
