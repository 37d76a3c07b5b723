"""When analytics jobs run: rollups every minute, retention hourly, knowledge gaps every 6 hours, satisfaction daily.

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

from core.periodic import run_every, start_every
from core.redis import sync_redis

log = logging.getLogger(__name__)

# job name → seconds between runs
INTERVALS = {
    "refresh_rollups": 60,
    "apply_retention": 60 * 60,  # conversations past a tenant's retention period (analytics.privacy)
    "refresh_knowledge_gaps": 6 * 60 * 60,
    "train_satisfaction": 24 * 60 * 60,
}
TICK_SECONDS = 30
KEY = "kefu:analytics:schedule:{}"  # holds the time of the last enqueue, expires after the interval
_FAILURE = "analytics schedule pass failed"


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


def _run_due_and_log() -> None:
    jobs = run_due()
    if jobs:
        log.info("analytics jobs enqueued", extra={"jobs": jobs})


def run_forever(stop: threading.Event | None = None) -> None:
    """Call `run_due` now and every TICK_SECONDS until `stop` is set; errors are logged, never fatal."""
    run_every(TICK_SECONDS, _run_due_and_log, stop=stop, at_start=True, failure=_FAILURE)


def start_in_background() -> threading.Event:
    """Run the schedule in a daemon thread; set the returned event to stop it.

    Not under KEFU_ENV=test: test workers run only what a test enqueues, so background jobs never
    race the behaviour under test.
    """
    return start_every(
        TICK_SECONDS, _run_due_and_log, thread="analytics-schedule", at_start=True, in_tests=False, failure=_FAILURE
    )
