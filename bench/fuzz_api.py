"""Long schemathesis run: every OpenAPI operation of a real API process, many examples each.

The same fuzzing as tests/security/test_schemathesis.py (0 server errors), with far more
examples than `make test` can afford. Starts its own topology (bench/harness.py: embedded
PostgreSQL, one API and one worker process, a Redis database of its own), seeds a tenant with
data of every kind, fuzzes with its admin key and widget key, and prints the figures.

    python bench/fuzz_api.py --examples 200
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import BENCH_REDIS, topology

from tests.security.fuzzing import fuzz
from tests.security.world import seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=200, help="generated cases per operation")
    parser.add_argument("--redis-url", default=BENCH_REDIS, help="flushed at start; held for the run")
    args = parser.parse_args()
    # The seeded tenant has a website source and a webhook on 127.0.0.1 (tests/security/world.py): allow them.
    with topology(apis=1, workers=1, embedder="hash", redis_url=args.redis_url,
                  extra_env={"KEFU_CRAWL_ALLOW_PRIVATE": "true", "KEFU_WEBHOOK_ALLOW_PRIVATE": "true"}) as topo:
        base = topo.api_urls[0]

        async def make() -> dict[str, str]:
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                tenant = await seed(client, "Fuzz", ingest=lambda: None)
            return {**tenant.admin, "X-Widget-Key": tenant.widget_key}

        headers = asyncio.run(make())
        started = time.perf_counter()
        report = fuzz(base, headers, args.examples)
        elapsed = time.perf_counter() - started
    print(f"operations fuzzed     {report.operations}")
    print(f"requests sent         {report.requests}")
    print(f"examples / operation  {args.examples}")
    print(f"elapsed               {elapsed:.0f} s")
    print(f"server errors         {len(report.failures)}")
    for failure in report.failures:
        print("\n" + failure)
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
