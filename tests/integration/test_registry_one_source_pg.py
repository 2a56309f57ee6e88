"""一数一源 as a property on PostgreSQL: random operation sequences, checked by SQL after every step."""

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import Engine

from tests.onesource import OPERATIONS, run_sequence
from tests.registrykit import seeded_registry

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_registry(pg_database: str) -> Iterator[Engine]:
    with seeded_registry(pg_database) as engine:
        yield engine


# Each example runs in one transaction rolled back at its end; 100 examples take about ten seconds.
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPERATIONS)
def test_each_element_always_has_exactly_one_source_on_postgres(
    pg_registry: Engine, ops: list[tuple[Any, ...]]
) -> None:
    run_sequence(pg_registry, ops)


def test_a_fixed_sequence_moves_sources_on_postgres(pg_registry: Engine) -> None:
    ops = [
        ("create", 0, 0, 0),
        ("create", 1, 1, 1),
        ("resolve", 0, "distinct"),
        ("claim", 0, 2),
        ("resolve", 0, "handover"),
        ("propose", 0, 3),
        ("reject", 0),
        ("propose", 0, 4),
        ("accept", 0),
        ("retire", 1),
    ]
    assert run_sequence(pg_registry, ops) == {"prop.e0": "zjj", "prop.e1": "hrss"}
