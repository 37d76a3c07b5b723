"""The Dramatiq broker, configured before any actor module is imported.

Actor modules (`knowledge.tasks`, later `chat.tasks`, `analytics.tasks`) import this
module first, so the broker they register on (`dramatiq.get_broker()`) is always Kefu's. Tests call
`use_stub_broker()` before importing actor modules to run actors in-process with `dramatiq.Worker`.
"""

from __future__ import annotations

import time
from typing import Any

import dramatiq
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from core import metrics
from core.logging import reset_log_context, use_kefu_logs
from core.redis import redis_url
from core.settings import get_settings

QUEUES = ("ingest", "chat", "analytics", "maintenance", "crawl", "notify")


class Observability(dramatiq.Middleware):
    """Actor durations and failures as metrics; each message's log lines carry its actor and id."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        use_kefu_logs()

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        reset_log_context(actor=message.actor_name, message_id=message.message_id)
        self._started[message.message_id] = time.perf_counter()

    def after_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message, *,
                              result: object = None, exception: BaseException | None = None) -> None:
        started = self._started.pop(message.message_id, None)
        if started is not None:
            outcome = "error" if exception is not None else "ok"
            metrics.ACTOR_SECONDS.labels(message.actor_name, outcome).observe(time.perf_counter() - started)
        if exception is not None:
            metrics.ACTOR_FAILURES.labels(message.actor_name).inc()

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        self._started.pop(message.message_id, None)


class DaemonLoopAsyncIO(AsyncIO):
    """Dramatiq's AsyncIO middleware with an event-loop thread that cannot keep the process alive.

    A worker process answers a second SIGTERM (systemd stopping the whole control group, `kill --
    -PGID`, the runner forwarding a signal the process already got) with `sys.exit`, which skips the
    worker's shutdown hooks. The stock loop thread is not a daemon, so the interpreter then waited
    for it forever and the worker never stopped. A normal stop still stops and joins the loop.
    """

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        thread = EventLoopThread(self.logger)
        thread.daemon = True
        thread.start(timeout=1.0)
        set_event_loop_thread(thread)


def _middleware() -> list[dramatiq.Middleware]:
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(min_backoff=1_000, max_backoff=60_000, max_retries=3),
        CurrentMessage(),
        DaemonLoopAsyncIO(),  # runs `async def` actors (chat) on one event loop per worker process
        Observability(),
    ]


def failure_name(message: dict[str, Any]) -> str:
    """The exception type of a failed message's last attempt (for an `on_retry_exhausted` handler).

    Dramatiq keeps the last traceback in the message's options; its final line names the exception.
    """
    lines = [line for line in str(message.get("options", {}).get("traceback") or "").splitlines() if line.strip()]
    name = lines[-1].split(":", 1)[0].strip().rsplit(".", 1)[-1] if lines else ""
    return name if name.isidentifier() else "error"


def _install(broker: dramatiq.Broker) -> dramatiq.Broker:
    for queue in QUEUES:
        broker.declare_queue(queue)
    broker.kefu = True  # type: ignore[attr-defined]
    dramatiq.set_broker(broker)
    return broker


def use_stub_broker() -> StubBroker:
    """Install an in-memory broker (tests); call before importing actor modules."""
    broker = StubBroker(middleware=_middleware())
    _install(broker)
    return broker


def setup_broker() -> dramatiq.Broker:
    """Install Kefu's Redis broker once per process (keeping a stub a test installed)."""
    current = dramatiq.broker.global_broker
    if current is not None and getattr(current, "kefu", False):
        return current
    settings = get_settings()
    return _install(RedisBroker(url=redis_url(), middleware=_middleware(), namespace="kefu",
                                heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
                                maintenance_chance=settings.broker_maintenance_chance))


setup_broker()
