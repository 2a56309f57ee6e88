"""The subscription form's condition lines: typed by the routing field's schema, bad lines named."""

import pytest

from console.views.events_conditions import ConditionSyntax, condition_text, field_types, parse_conditions

TYPES = field_types(
    [
        {
            "properties": {
                "scope": {"type": "string"},
                "food": {"type": "boolean"},
                "tier": {"type": "integer"},
            }
        },
        {
            "properties": {
                "scope": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
            }
        },
    ]
)


def test_field_types_come_from_the_first_schema_that_declares_the_field() -> None:
    assert TYPES == {"scope": "string", "food": "boolean", "tier": "integer", "tags": "array"}


def test_each_line_is_typed_by_its_field() -> None:
    text = (
        "scope contains 食品\n\n food equals TRUE\ntier equals -3\n"
        "tags contains 餐饮 服务\nscope in a，b, c、d"
    )
    assert parse_conditions(text, TYPES) == [
        {"field": "scope", "op": "contains", "value": "食品"},
        {"field": "food", "op": "equals", "value": True},
        {"field": "tier", "op": "equals", "value": -3},
        {"field": "tags", "op": "contains", "value": "餐饮 服务"},
        {"field": "scope", "op": "in", "value": ["a", "b", "c", "d"]},
    ]
    # A field no type declares stays text: the registry refuses it as no routing field.
    assert parse_conditions("district equals 3", TYPES) == [
        {"field": "district", "op": "equals", "value": "3"}
    ]
    assert parse_conditions("  \n", TYPES) == []


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("scope 食品", "subscriptions.condition_line", 1),
        ("scope contains 食品\nscope like 食品", "subscriptions.condition_line", 2),
        ("food equals yes", "subscriptions.condition_value", 1),
        ("tier equals 1.5", "subscriptions.condition_value", 1),
    ],
)
def test_a_bad_line_is_named_by_its_number(text: str, key: str, line: int) -> None:
    with pytest.raises(ConditionSyntax) as bad:
        parse_conditions(text, TYPES)
    assert (bad.value.key, bad.value.params["line"]) == (key, line)


def test_a_stored_condition_reads_back_as_the_line_that_makes_it() -> None:
    for line in ("scope contains 食品", "food equals false", "tier equals 7", "scope in a, b"):
        (condition,) = parse_conditions(line, TYPES)
        assert condition_text(condition) == line
