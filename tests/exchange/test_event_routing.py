"""The routing check of a published event against its type's schema (pure: no services)."""

import pytest

from exchange.events.routing import routing_problem, routing_schema
from registry.catalogue import EventTypeView
from shuyuan.sample_catalogue import EVENT_TYPES, LICENSE_ISSUED

_CODE, _NAME, _SOURCE, _SCHEMA, _ROUTING = next(t for t in EVENT_TYPES if t[0] == LICENSE_ISSUED)
LICENCE = EventTypeView(_CODE, _SOURCE, "active", tuple(_ROUTING), _SCHEMA)
FOOD = {"business_scope": "食品销售;预包装食品", "licence_type": "food_business_licence"}


def test_the_routing_schema_is_the_routing_properties_only_all_required() -> None:
    schema = routing_schema(LICENCE)
    assert sorted(schema["properties"]) == ["business_scope", "licence_type"]
    assert schema["required"] == ["business_scope", "licence_type"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["licence_type"] == _SCHEMA["properties"]["licence_type"]


def test_valid_routing_passes() -> None:
    assert routing_problem(LICENCE, FOOD) is None


@pytest.mark.parametrize(
    ("routing", "where"),
    [
        ({"business_scope": "食品销售"}, "routing"),  # a routing field missing
        (FOOD | {"licence_type": "fishing_permit"}, "licence_type"),  # not in the enum
        (FOOD | {"business_scope": ["食品"]}, "business_scope"),  # a list where the schema says string
        (FOOD | {"enterprise_name": "某某公司"}, "routing"),  # a payload field is not routing metadata
        (FOOD | {"business_scope": "x" * 501}, "business_scope"),  # over maxLength
    ],
)
def test_routing_that_breaks_the_schema_is_refused_and_says_where(routing: dict, where: str) -> None:
    problem = routing_problem(LICENCE, routing)
    assert problem is not None and problem.startswith(f"{where}:")


def test_local_definitions_keep_resolving() -> None:
    schema = {
        "type": "object",
        "$defs": {"level": {"type": "integer", "minimum": 1, "maximum": 3}},
        "properties": {"level": {"$ref": "#/$defs/level"}, "note": {"type": "string"}},
        "required": ["level", "note"],
    }
    view = EventTypeView("risk.raised", "amr", "active", ("level",), schema)
    assert routing_problem(view, {"level": 2}) is None
    assert routing_problem(view, {"level": 7}) is not None


def test_an_unusable_schema_fails_closed() -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": "https://example.org/remote.json"}}}
    view = EventTypeView("x.y", "amr", "active", ("x",), schema)
    assert routing_problem(view, {"x": "a"}) is not None
