"""Scale checks: the full-size runs of the tests that `make test` runs small.

Some checks are the same code path at any size and only cost time at full size. `make test` runs
them small (tests/support/scale.py); this script runs exactly the same tests at full size
(KEFU_TEST_FULL_SCALE=1) and prints how long each took. Which test proves what:

  tests/integration/test_documents_api.py::test_a_large_csv_is_indexed_completely
      one CSV uploaded through the API and indexed by the ingest actor, every row a chunk:
      5,000 rows in `make test` (crosses the insert and embed batch boundaries), 100,000 here.
  tests/e2e/test_faults.py::test_many_documents_across_both_workers_with_exact_chunk_counts
      documents uploaded through two APIs, indexed by two worker processes, exact chunk counts in
      the API and the database, both workers used: 24 documents in `make test`, 200 here.

The e2e test brings its module's cluster (two APIs, two workers, the admin app, a private Redis)
and runs the module's first test too, which the cluster fixture serves. Runs pytest on the test
session's own embedded PostgreSQL; Redis is BENCH_REDIS (flushed) unless --redis-url says otherwise.

    python bench/scale_checks.py
    python bench/scale_checks.py --only large_csv
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import BENCH_REDIS

ROOT = Path(__file__).resolve().parents[1]
CHECKS = {
    "large_csv": "tests/integration/test_documents_api.py::test_a_large_csv_is_indexed_completely",
    "many_documents": "tests/e2e/test_faults.py::test_many_documents_across_both_workers_with_exact_chunk_counts",
}
DURATION = re.compile(r"^([\d.]+)s call\s+(\S+)$")


def run(node: str, redis_url: str) -> tuple[int, dict[str, float], float]:
    """pytest on one node at full size: exit code, seconds per test call, wall seconds."""
    env = {**os.environ, "KEFU_TEST_FULL_SCALE": "1", "KEFU_TEST_REDIS_URL": redis_url,
           "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
                           "--show-capture=no", "-vv", node], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    calls = {m[2]: float(m[1]) for line in done.stdout.splitlines() if (m := DURATION.match(line.strip()))}
    if done.returncode:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    return done.returncode, calls, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(CHECKS), action="append", help="run only these checks")
    parser.add_argument("--redis-url", default=BENCH_REDIS, help="the tests flush it at start")
    args = parser.parse_args()
    failed = 0
    for name in args.only or list(CHECKS):
        node = CHECKS[name]
        code, calls, wall = run(node, args.redis_url)
        failed += code != 0
        print(f"{name:<16} {'passed' if code == 0 else 'FAILED'}  test {calls.get(node, float('nan')):.1f} s"
              f"  (pytest wall {wall:.0f} s, setup included)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
