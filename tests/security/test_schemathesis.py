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
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

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


def fuzz_operation(operation, base_url: str, headers: dict[str, str], max_examples: int) -> str | None:
    """Run one operation's generated cases; the first server error found, described, or None."""

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
           | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=[not_a_server_error])

    try:
        run()
    except Exception as exc:  # schemathesis raises a failure group describing the request and response
        return f"{operation.label}: {exc}"[:2000]
    return None


def fuzz(base_url: str, headers: dict[str, str], max_examples: int) -> tuple[int, list[str]]:
    """Fuzz every operation of the API at `base_url`; returns (operations run, failures)."""
    api = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    failures = [f for op in operations if (f := fuzz_operation(op, base_url, headers, max_examples))]
    return len(operations), failures


def test_no_operation_answers_with_a_server_error(live_api, fuzz_headers) -> None:
    operations, failures = fuzz(live_api, fuzz_headers, MAX_EXAMPLES)
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
