"""The worker's asyncio loop thread must not keep a worker process alive after a hard stop."""

from __future__ import annotations

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker

from core.broker import DaemonLoopAsyncIO, _middleware


def test_kefu_broker_runs_async_actors_on_a_daemon_loop_thread() -> None:
    assert [m for m in _middleware() if type(m).__name__ == "AsyncIO"] == []
    assert any(isinstance(m, DaemonLoopAsyncIO) for m in _middleware())


def test_the_loop_thread_is_a_daemon_and_still_stops_on_a_normal_shutdown() -> None:
    broker = StubBroker()
    middleware = DaemonLoopAsyncIO()
    worker = dramatiq.Worker(broker, worker_threads=1)
    middleware.before_worker_boot(broker, worker)
    thread = get_event_loop_thread()
    assert thread is not None and thread.is_alive()
    # A daemon thread does not hold the interpreter open when Dramatiq answers a second SIGTERM
    # with sys.exit (the stock thread did, and the worker hung forever).
    assert thread.daemon
    middleware.after_worker_shutdown(broker, worker)
    assert not thread.is_alive()
    assert get_event_loop_thread() is None
