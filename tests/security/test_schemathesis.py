"""Property-based fuzzing of every documented operation: whatever is sent, the API never answers 5xx.

schemathesis reads `/schema/openapi.json` from a real API process and generates valid and
invalid requests for each operation, sent with a real admin key and a real widget key, so they
get past authentication and reach the handlers. The run is kept small enough for `make test`;
`make fuzz` runs the same thing with many more examples (bench/fuzz_api.py).
"""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from tests.security.fuzzing import fuzz
from tests.security.world import seed

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MAX_EXAMPLES = int(os.environ.get("KEFU_FUZZ_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def fuzz_headers(live_api) -> dict[str, str]:
    """A tenant with data of every kind, seeded through the API process under test."""

    async def make() -> dict[str, str]:
        async with httpx.AsyncClient(base_url=live_api, timeout=60) as client:
            tenant = await seed(client, "Fuzz")
        return {**tenant.admin, "X-Widget-Key": tenant.widget_key}

    return asyncio.run(make())


def test_no_operation_answers_with_a_server_error(live_api, fuzz_headers) -> None:
    report = fuzz(live_api, fuzz_headers, MAX_EXAMPLES)
    assert report.operations >= 20 and report.requests >= report.operations
    assert not report.failures, "\n\n".join(report.failures)
