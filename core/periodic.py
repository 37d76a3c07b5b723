"""Call a function every N seconds in a daemon thread: the worker's housekeeping loops.

A failed call is logged and the next tick tries again (a database or Redis outage must not end
the loop). Set the stop event to end it; the loop notices at once, even mid-wait.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from core.settings import get_settings

log = logging.getLogger(__name__)


def run_every(
    seconds: float,
    call: Callable[[], object],
    *,
    stop: threading.Event | None = None,
    at_start: bool = False,
    failure: str = "periodic call failed",
) -> None:
    """Call `call` every `seconds` until `stop` is set; exceptions are logged as `failure`, never fatal.

    `at_start`: the first call is made at once; otherwise after one tick.
    """
    stop = stop or threading.Event()
    if not at_start and stop.wait(seconds):
        return
    while not stop.is_set():
        try:
            call()
        except Exception:
            log.exception(failure)
        stop.wait(seconds)


def start_every(
    seconds: float,
    call: Callable[[], object],
    *,
    thread: str,
    at_start: bool = False,
    in_tests: bool = True,
    failure: str = "periodic call failed",
) -> threading.Event:
    """Run `run_every` in a daemon thread named `thread`; set the returned event to stop it.

    `in_tests=False`: under KEFU_ENV=test nothing is started (the event is still returned), so
    background jobs never race the behaviour under test.
    """
    stop = threading.Event()
    if not in_tests and get_settings().env == "test":
        return stop
    threading.Thread(
        target=run_every,
        args=(seconds, call),
        kwargs={"stop": stop, "at_start": at_start, "failure": failure},
        name=thread,
        daemon=True,
    ).start()
    return stop
