"""一数一源 as a property on SQLite: random operation sequences never leave an element with 0 or 2 sources."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from sqlalchemy import Engine, text

from tests.onesource import OPERATIONS, run_sequence


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPERATIONS)
def test_each_element_always_has_exactly_one_source(
    registry_engine: Engine, ops: list[tuple[Any, ...]]
) -> None:
    run_sequence(registry_engine, ops)


def test_the_sequences_really_change_sources(registry_engine: Engine) -> None:
    # A fixed sequence through every way a source changes, so the property cannot pass by doing nothing.
    ops = [
        ("create", 0, 0, 0),  # psb registers 兵役状况
        ("create", 1, 1, 1),  # hrss registers 兵役 状况: near-duplicate dispute
        ("resolve", 0, "distinct"),  # prop.e1 registered under hrss
        ("claim", 0, 2),
        ("resolve", 0, "handover"),  # prop.e0 -> amr
        ("propose", 0, 3),
        ("accept", 0),  # prop.e0 -> xzsp
        ("retire", 1),
    ]
    assert run_sequence(registry_engine, ops) == {"prop.e0": "xzsp", "prop.e1": "hrss"}
    with registry_engine.connect() as conn:
        # Rolled back after the sequence: the example leaves nothing behind.
        assert conn.execute(text("SELECT count(*) FROM data_element WHERE code LIKE 'prop.%'")).scalar() == 0
