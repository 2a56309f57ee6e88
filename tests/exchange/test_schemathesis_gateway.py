"""Schemathesis against the gateway's own OpenAPI document: no server error, no response off its schema.

Every operation is fuzzed with schema-conforming and schema-violating data, with a real access token
of a test system holding every scope (so the fuzzer gets past authentication to the handlers), and
once more without a token. Bounded: a few examples per operation and mode, well under 90 s.
"""

import time
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

EXAMPLES = 4
BUDGET_S = 90


def _fuzz(client: TestClient, operation: Any, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    seen: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same inputs on every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
    )
    def _run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        kwargs.pop("cookies", None)
        response = client.request(**kwargs)
        seen.append(str(response.status_code))
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    try:
        _run()
    except Unsatisfiable:
        # Negative data is impossible for an operation without inputs (e.g. GET /healthz).
        assert mode is GenerationMode.NEGATIVE, operation.label
    return seen


@pytest.mark.timeout(BUDGET_S + 30)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(client: TestClient) -> None:
    schema = schemathesis.openapi.from_dict(client.app.openapi())
    token = {"Authorization": client.headers["Authorization"]}
    started = time.monotonic()
    statuses: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        began = time.monotonic()
        for mode in GenerationMode:
            statuses += _fuzz(client, operation, mode, token)
        statuses += _fuzz(client, operation, GenerationMode.POSITIVE, {"Authorization": ""})[:1]
        print(f"{operation.label}: {time.monotonic() - began:.1f} s")  # shown with -s, for tuning
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_S, elapsed
    assert not [s for s in statuses if s.startswith("5")]
    # The fuzzer reached the handlers, not only the authentication layer.
    assert {"200", "401", "422"} <= set(statuses)
