"""The registry API documents itself: every route has a description, errors are problem+json."""

from sqlalchemy import Engine

from tests.registrykit import registry_app


def test_every_registry_route_has_an_openapi_description(registry_engine: Engine) -> None:
    app, _seen = registry_app(registry_engine)
    spec = app.openapi()
    operations = [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(operations) > 40
    assert [(m, p) for m, p, op in operations if not op.get("description")] == []
    create = spec["paths"]["/v1/elements"]["post"]["responses"]
    assert {"201", "202", "409"} <= set(create)
