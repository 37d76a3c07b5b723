"""Two checkouts' `retrieve_sync` on their own kept `bench/retrieval_scale.py` data, one query each in turn.

Whole bench runs of two versions, one after the other, see different machine moments: on a
shared machine their difference is mostly noise. Here two processes, one per checkout (each with
its own code, PostgreSQL and data directory, loaded beforehand with that checkout's
`bench/retrieval_scale.py --load-only`), regenerate the same tenants and the same queries, warm
their server as a worker would, then take turns: a, b, a, b, ... one search each. So both see the
same load, and the per-query ratio b/a says which code is faster.

    python bench/retrieval_lockstep.py --a /tmp/old-src:/work/scale-data/scale-1m-old \\
                                       --b /work/main:/work/scale-data/scale-1m [--largest 10] [--queries 60]

Each side runs that checkout's own `bench/retrieval_scale.py` helpers (`load`, `queries_for`,
`hybrid`), so any commit since the bench had `hybrid()` works (2026-12-05 on). Both sides share
the Redis database this runner holds; swap --a and --b for a second run to cancel any order effect.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

THIS = Path(__file__).resolve()


def side(args: argparse.Namespace) -> None:
    """One checkout's half: set up, then search whenever the other side hands over the turn."""
    sys.path.insert(0, str(Path.cwd() / "bench"))
    import harness

    harness.exclusive_redis_db = lambda url: contextlib.nullcontext()  # the runner holds it for both
    from filtered_search import zipf_sizes
    from retrieval_scale import Corpus, hybrid, load, loaded_tenants, queries_for

    with harness.topology(apis=0, workers=0, embedder="hash", data_dir=Path(args.data), redis_url=args.redis_url):
        from knowledge import vector_index

        rng = np.random.default_rng(7)
        basis = rng.standard_normal((32, 384)) / np.sqrt(32)
        sizes = zipf_sizes(1_000_000, 1_000, 1.0, 60)[:args.largest]
        tenants = load(sizes, rng, basis, Corpus.make(rng), loaded_tenants())
        for tenant in tenants:
            tenant.indexed = vector_index.has_index_uncached(tenant.tenant_id)
        started = time.perf_counter()
        # Not through warm_after_restart's Redis mark: both servers may have started in the same second.
        warmed = vector_index._warm_largest_tenants()
        print(f"{args.side}: warmed {len(warmed)} tenants in {time.perf_counter() - started:.1f}s", flush=True)
        middle = len(tenants) // 2
        groups = {"large": tenants[:3], "medium": tenants[middle - 1:middle + 2], "small": tenants[-3:]}
        queries = np.random.default_rng(11)
        work = [(name, tenant, query, vector, i < 3) for name, group in groups.items() for tenant in group
                for i, (query, vector) in enumerate(queries_for(tenant, queries, args.queries + 3))]
        other = "b" if args.side == "a" else "a"
        mine, theirs = Path(args.pipes, f"{args.side}.turn"), Path(args.pipes, f"{other}.turn")
        # Opening a FIFO waits for its other end, so the two sides open theirs in opposite orders.
        if args.side == "a":
            out, inp = open(mine, "w", buffering=1), open(theirs)  # noqa: SIM115
        else:
            inp, out = open(theirs), open(mine, "w", buffering=1)  # noqa: SIM115
        latencies: dict[str, list[float]] = {name: [] for name in groups}
        for i, (name, tenant, query, vector, warmup) in enumerate(work):
            if args.side == "b" or i > 0:
                inp.readline()
            began = time.perf_counter()
            hybrid(tenant, query, vector, exact=False)
            if not warmup:
                latencies[name].append((time.perf_counter() - began) * 1000)
            out.write("go\n")
        if args.side == "a":
            inp.readline()  # b's last search
        Path(args.pipes, f"{args.side}.json").write_text(json.dumps(latencies))


def run(args: argparse.Namespace) -> None:
    """Start both sides under one hold of the bench Redis database; print both and the ratios."""
    sys.path.insert(0, str(THIS.parent))
    from harness import exclusive_redis_db

    with exclusive_redis_db(args.redis_url), tempfile.TemporaryDirectory(prefix="lockstep-") as pipes:
        for name in ("a.turn", "b.turn"):
            os.mkfifo(Path(pipes, name))
        procs = []
        for name, spec in (("a", args.a), ("b", args.b)):
            src, data = spec.split(":", 1)
            extra = ["--largest", str(args.largest)] if args.largest else []
            procs.append(subprocess.Popen(
                [sys.executable, str(THIS), "--side", name, "--data", data, "--pipes", pipes, "--queries",
                 str(args.queries), "--redis-url", args.redis_url, *extra],
                cwd=src, env={**os.environ, "PYTHONPATH": src}))
        if any(proc.wait() for proc in procs):
            raise SystemExit("a side failed")
        a, b = (json.loads(Path(pipes, f"{name}.json").read_text()) for name in ("a", "b"))
    print(f"a = {args.a}\nb = {args.b}\np50/p95 ms, {args.queries} queries x 3 tenants per class, in turns:")
    for name in a:
        x, y = np.array(a[name]), np.array(b[name])
        (a50, a95), (b50, b95) = np.percentile(x, [50, 95]), np.percentile(y, [50, 95])
        print(f"  {name:6s} a {a50:5.1f}/{a95:5.1f}  b {b50:5.1f}/{b95:5.1f}  b/a p50 {b50 / a50:.2f} "
              f"p95 {b95 / a95:.2f}  median per-query b/a {np.median(y / x):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", help="SRC:DATA_DIR of the first checkout")
    parser.add_argument("--b", help="SRC:DATA_DIR of the second checkout")
    parser.add_argument("--largest", type=int, help="the data was loaded with retrieval_scale.py --largest N")
    parser.add_argument("--queries", type=int, default=60, help="timed queries per tenant (3 tenants per class)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--side", choices=("a", "b"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--pipes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side(args)
    elif args.a and args.b:
        run(args)
    else:
        parser.error("--a and --b are required")


if __name__ == "__main__":
    main()
