"""The helper behind the worker's housekeeping loops: call a function every N seconds."""

from __future__ import annotations

import logging
import threading

from core.periodic import run_every, start_every


class Ticks(threading.Event):
    """A stop event whose waits return at once and are written down; set after `ticks` waits."""

    def __init__(self, ticks: int, calls: list[str]) -> None:
        super().__init__()
        self.ticks, self.calls = ticks, calls

    def wait(self, timeout: float | None = None) -> bool:
        self.calls.append(f"wait {timeout}")
        self.ticks -= 1
        if self.ticks <= 0:
            self.set()
        return self.is_set()


def test_the_first_call_waits_one_tick_by_default() -> None:
    calls: list[str] = []
    run_every(15, lambda: calls.append("call"), stop=Ticks(2, calls))
    assert calls == ["wait 15", "call", "wait 15"]


def test_at_start_the_first_call_is_made_at_once() -> None:
    calls: list[str] = []
    run_every(30, lambda: calls.append("call"), stop=Ticks(2, calls), at_start=True)
    assert calls == ["call", "wait 30", "call", "wait 30"]


def test_a_failed_call_is_logged_and_the_loop_carries_on(caplog) -> None:
    calls: list[str] = []

    def call() -> None:
        calls.append("call")
        if len(calls) == 1:
            raise ConnectionError("redis is down")

    with caplog.at_level(logging.ERROR, logger="core.periodic"):
        run_every(1, call, stop=Ticks(3, []), at_start=True, failure="sweep failed")
    assert calls == ["call", "call", "call"]
    assert [r.getMessage() for r in caplog.records] == ["sweep failed"]
    assert caplog.records[0].exc_info is not None


def test_the_background_thread_ends_when_the_stop_event_is_set() -> None:
    called = threading.Event()
    stop = start_every(3600, called.set, thread="test-periodic", at_start=True)
    assert called.wait(5)
    (thread,) = [t for t in threading.enumerate() if t.name == "test-periodic"]
    assert thread.daemon
    stop.set()  # ends the hour-long wait at once
    thread.join(5)
    assert not thread.is_alive()


def test_a_loop_kept_out_of_tests_does_not_start_under_kefu_env_test() -> None:
    stop = start_every(3600, lambda: None, thread="test-periodic-off", at_start=True, in_tests=False)
    assert not stop.is_set()
    assert not [t for t in threading.enumerate() if t.name == "test-periodic-off"]
