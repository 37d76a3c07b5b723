"""schemathesis against a running Kefu API: every documented operation, valid and invalid input.

Used by the bounded run in `make test` (tests/security/test_schemathesis.py) and by the long run
in `make fuzz` (bench/fuzz_api.py). The schema is read from the server, so new routes are fuzzed
without anyone listing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error


@dataclass
class FuzzReport:
    operations: int = 0
    requests: int = 0
    failures: list[str] = field(default_factory=list)


def fuzz_operation(operation, base_url: str, headers: dict[str, str], max_examples: int,
                   report: FuzzReport) -> None:
    """Run one operation's generated cases; record the first server error found, described."""

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
           | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case) -> None:
        report.requests += 1
        case.call_and_validate(base_url=base_url, headers=headers, checks=[not_a_server_error])

    try:
        run()
    except Exception as exc:  # schemathesis raises a failure group describing the request and response
        report.failures.append(f"{operation.label}: {exc}"[:2000])


def fuzz(base_url: str, headers: dict[str, str], max_examples: int) -> FuzzReport:
    """Fuzz every operation of the API at `base_url` with the given credentials."""
    report = FuzzReport()
    api = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    for result in api.get_all_operations():
        report.operations += 1
        fuzz_operation(result.ok(), base_url, headers, max_examples, report)
    return report
