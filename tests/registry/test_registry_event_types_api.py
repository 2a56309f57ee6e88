"""The event-type catalogue's API: a code is checked against its pattern before any rule runs."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.registrykit import STEWARD

SCHEMA = {"type": "object", "required": ["district"], "properties": {"district": {"type": "string"}}}


def _body(code: str) -> dict[str, Any]:
    return {"code": code, "name": "许可证延续", "source": "xzsp", "payload_schema": SCHEMA}


@pytest.mark.parametrize("code", ["Nope", "license", "license.Issued", "1icence.issued", "license..issued"])
def test_a_code_that_is_not_dotted_lower_case_is_422_invalid_request(api: TestClient, code: str) -> None:
    refused = api.post("/v1/event-types", json=_body(code), headers=STEWARD)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["reason"] == "invalid_request"
    assert [e["loc"] for e in problem["errors"]] == [["body", "code"]]
    assert api.get(f"/v1/event-types/{code}").status_code == 404


def test_a_dotted_lower_case_code_is_registered(api: TestClient) -> None:
    created = api.post("/v1/event-types", json=_body("permit.renewed"), headers=STEWARD)
    assert created.status_code == 201, created.text
    assert created.json()["code"] == "permit.renewed"


def test_the_openapi_schema_states_the_pattern(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()["components"]["schemas"]["EventTypeCreate"]
    assert schema["properties"]["code"]["pattern"] == r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"


def test_the_exchanges_own_recall_type_cannot_be_registered(api: TestClient) -> None:
    # A department made the "source" of correction.recall could publish recalls in its own name.
    refused = api.post("/v1/event-types", json=_body("correction.recall"), headers=STEWARD)
    assert (refused.status_code, refused.json()["reason"]) == (409, "conflict")
    assert api.get("/v1/event-types/correction.recall").status_code == 404
